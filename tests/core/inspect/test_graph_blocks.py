"""Repeated blocks folded: a transformer's layers become one box each that opens into its operations."""

import pytest

from studio.core.inspect.graph import Graph
from studio.core.inspect.graph_blocks import BODY, MIN_NODES, Block, FoldedGraph, fold_blocks

pytest.importorskip("transformers")

LAYERS = [f"model.encoder.layer.{k}" for k in range(4)]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    """A 4-layer BERT folder (random weights) and the model loaded from it."""
    from hf_folders import tiny_bert

    from studio.core.formats.load import load_model

    return load_model(str(tiny_bert(tmp_path_factory.mktemp("bert4"), head="base", layers=4)))


def blocks(graph: Graph) -> dict[str, Block]:
    return {n.name: n for n in graph.nodes if isinstance(n, Block)}


def consistent(graph: Graph) -> None:
    """Ids are positions, edges join existing nodes, once per pair, never a node to itself; same inside."""
    assert [n.id for n in graph.nodes] == list(range(len(graph.nodes)))
    pairs = [(e.src, e.dst) for e in graph.edges]
    assert all(0 <= s < len(graph.nodes) and 0 <= d < len(graph.nodes) and s != d for s, d in pairs)
    for n in graph.nodes:
        for body in n.subgraphs.values():
            consistent(body)


def test_a_bert_folder_shows_its_layers_as_blocks_that_open_into_their_operations(bert):
    from studio.core.inspect.model_graph import _graph, graph_of

    flat, graph = _graph(bert), graph_of(bert)
    shown = blocks(graph)
    assert [name for name in shown if name in LAYERS] == LAYERS
    assert {shown[name].type for name in LAYERS} == {"BertLayer"}
    assert shown["model.embeddings"].type == "BertEmbeddings"  # the module beside the layers folds too
    for name in LAYERS:
        block = shown[name]
        assert block.layer is None and list(block.subgraphs) == [BODY]
        inner = block.subgraphs[BODY].nodes
        assert len(inner) == 12 and all(n.layer.startswith(name + ".") for n in inner)  # inner nodes keep their layers
    assert [n.name for n in graph.nodes if not isinstance(n, Block)] == ["model.pooler.dense", "model.pooler.activation"]
    assert isinstance(graph, FoldedGraph) and graph.node_count() == flat.node_count() == len(flat.nodes) == 55
    consistent(graph)


def test_a_small_cnn_is_not_folded():
    from studio.core.formats.load import load_model
    from studio.core.inspect.model_graph import graph_of

    graph = graph_of(load_model("sample:lenet-5"))
    assert not blocks(graph) and type(graph) is Graph and graph.node_count() == len(graph.nodes) == 10


def test_an_onnx_export_with_scoped_names_is_folded_with_its_edges(bert, tmp_path):
    """ONNX files of transformers (the TorchScript exporter, Optimum) name nodes by module scope:
    /model/encoder/layer.3/attention/self/query/MatMul."""
    import warnings

    import torch

    from studio.core.formats.load import load_model
    from studio.core.inspect.model_graph import _graph, graph_of

    ids = torch.ones(1, 8, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(bert.module, (ids, ids, ids), str(tmp_path / "bert.onnx"), dynamo=False,
                          input_names=["input_ids", "attention_mask", "token_type_ids"])
    model = load_model(str(tmp_path / "bert.onnx"))
    flat, graph = _graph(model), graph_of(model)
    shown = blocks(graph)
    assert [name for name in shown if name in LAYERS] == LAYERS and shown[LAYERS[0]].type == "Block"
    assert all(n.name.startswith("/model/encoder/layer.2/") for n in shown[LAYERS[2]].subgraphs[BODY].nodes)
    assert graph.node_count() == flat.node_count() and len(graph.nodes) < len(flat.nodes) / 2
    position = {n.name: n.id for n in graph.nodes}
    chain = {(e.src, e.dst) for e in graph.edges}
    assert all((position[a], position[b]) in chain for a, b in zip(LAYERS, LAYERS[1:]))  # layer k feeds layer k + 1
    consistent(graph)


def residual_chain(blocks_: int, per_block: int = 8) -> Graph:
    """input → per block: `blocks.k.fc0 … fc{n-1}` (modules) then `add_k` (a function, no path) → output."""
    graph = Graph()
    last = graph.add("x", "Input").id
    for k in range(blocks_):
        start = last
        for j in range(per_block):
            node = graph.add(f"blocks.{k}.fc{j}", "Linear", layer=f"blocks.{k}.fc{j}", shape=(1, 4))
            graph.connect(last, node.id)
            last = node.id
        add = graph.add(f"add_{k}", "add", shape=(1, 4))
        graph.connect(last, add.id)
        graph.connect(start, add.id)
        last = add.id
    graph.connect(last, graph.add("output", "Output").id)
    return graph


def test_nodes_without_a_path_join_their_block_and_edges_between_blocks_come_once():
    flat = residual_chain(6)
    graph = fold_blocks(flat)
    assert [n.name for n in graph.nodes] == ["x", *(f"blocks.{k}" for k in range(6)), "output"]
    assert {n.name for n in graph.nodes[3].subgraphs[BODY].nodes} == {*(f"blocks.2.fc{j}" for j in range(8)), "add_2"}
    assert sorted((e.src, e.dst) for e in graph.edges) == [(k, k + 1) for k in range(7)]  # residual and chain: one edge
    assert graph.nodes[1].shape == (1, 4) and graph.node_count() == flat.node_count()
    assert len(graph.nodes[1].subgraphs[BODY].edges) == 8  # fc0 → … → fc7 → add; the skip comes from the block before
    consistent(graph)


def test_small_graphs_and_graphs_without_three_repeats_stay_as_they_are():
    small = residual_chain(3, per_block=3)
    assert len(small.nodes) <= MIN_NODES and fold_blocks(small) is small
    two = residual_chain(2, per_block=30)
    assert len(two.nodes) > MIN_NODES and fold_blocks(two) is two
