"""A transformer in the window's graph: its layers are blocks that open into their operations, selecting
a layer finds its box inside its block, search sees inside blocks, and a block shows its nodes' time."""

import pytest
from PySide6.QtCore import QPoint, Qt

from studio.core.inspect.graph_blocks import Block
from studio.gui.inspect.graph_view import BLOCK

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    from hf_folders import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("bert4view"), head="base", layers=4)


def names(view) -> list[str]:
    return [n.name for n in view.canvas._graph.nodes]


def at(view, name: str) -> QPoint:
    return view.canvas.node_centre(names(view).index(name)).toPoint()


def test_a_bert_opens_as_blocks_that_open_into_their_operations(make_window, load, qtbot, bert_folder):
    window = make_window()
    info = load(window, bert_folder)
    view = window.graph
    qtbot.waitUntil(lambda: view.canvas._graph is info.graph and window.layer is not None)
    layers = [f"model.encoder.layer.{k}" for k in range(4)]
    assert [n for n in names(view) if n in layers] == layers
    assert BLOCK[0] in [label for label, _ in view.canvas.colouring.legend]
    # the first layer (in the embeddings) is marked on its block; the overview stays
    assert not view.crumb_bar.isVisible() and view.canvas._selection.tolist() == [names(view).index("model.embeddings")]

    window.graph.canvas.fit()
    qtbot.mouseDClick(view.canvas, Qt.MouseButton.LeftButton, pos=at(view, "model.encoder.layer.2"))
    assert len(names(view)) == 12 and all(n.startswith("model.encoder.layer.2.") for n in names(view))
    assert view.crumb_bar.isVisible()
    qtbot.mouseClick(view.back, Qt.MouseButton.LeftButton)
    assert "model.encoder.layer.2" in names(view) and not view.crumb_bar.isVisible()

    window.select_layer("model.encoder.layer.1.intermediate.dense")  # as a click in the Layers table does
    assert all(n.startswith("model.encoder.layer.1.") for n in names(view))
    assert view.canvas._selection.tolist() == [names(view).index("model.encoder.layer.1.intermediate.dense")]
    window.select_layer("model.pooler.dense")  # a layer outside any block: back to the model
    assert "model.encoder.layer.1" in names(view) and not view.crumb_bar.isVisible()

    view.search.setText("query")  # inside every layer: each block is found
    assert sorted(names(view)[i] for i in view._matches.tolist()) == layers


def test_a_block_shows_the_time_of_the_nodes_inside_it(make_window, load, qtbot, bert_folder):
    window = make_window()
    info = load(window, bert_folder)
    view = window.graph
    qtbot.waitUntil(lambda: view.canvas._graph is info.graph)
    inside = "model.encoder.layer.3.attention.self"
    view.show_times({f"{inside}.query": 1.0, f"{inside}.key": 2.0, "model.pooler.dense": 0.5}, 10.0, "v0")
    view._set_mode("time")
    block = names(view).index("model.encoder.layer.3")
    assert isinstance(view.canvas._graph.nodes[block], Block)
    assert "3 ms per run (30.0% of all nodes)" in view._describe(block)
    other = names(view).index("model.encoder.layer.0")
    colours = view.canvas.colouring.index
    assert colours[block] > 0 and colours[other] == 0  # layer 0: not timed apart
