"""One current layer: choosing it in the table, the sparsity chart or the graph moves every panel."""

import pytest
from PySide6.QtCore import QPointF, Qt

SOURCE = "sample:lenet-5"


@pytest.fixture
def window(make_window, load, monkeypatch):
    window = make_window()
    load(window, SOURCE)
    window.graph_selected = []
    real = window.graph.select_layer
    monkeypatch.setattr(window.graph, "select_layer", lambda name: (window.graph_selected.append(name), real(name)))
    return window


def click_row(qtbot, window, name):
    table = window.table
    row = table.model.row_of(name)
    index = table.proxy.mapFromSource(table.model.index(row, 0))
    qtbot.mouseClick(table.view.viewport(), Qt.MouseButton.LeftButton, pos=table.view.visualRect(index).center())


def assert_everywhere(window, name):
    info = window.info
    assert window.layer == name
    assert window.layer_panel.details.values["Name"].text() == name
    assert window.layer_panel.details.values["Parameters"].text().startswith(f"{info.stats[name].parameters:,} (")
    assert window.layer_panel.histogram.title.text() == f"<b>Weights of {name}</b>"
    assert f"exactly zero: {info.histograms[name].zeros:,}" in window.layer_panel.histogram.legend.text()
    current = window.table.proxy.mapToSource(window.table.view.currentIndex()).row()
    assert window.table.model.name_at(current) == name
    assert list(window.chart._marker.opts["x"]) == [[layer.name for layer in info.layers].index(name)]
    assert window.graph_selected[-1] == name


def test_table_moves_every_panel(qtbot, window):
    window.tabs.setCurrentWidget(window.table)
    click_row(qtbot, window, "fc1")
    assert_everywhere(window, "fc1")
    window.tabs.setCurrentWidget(window.sparsity_split)
    qtbot.waitUntil(lambda: "fc1.weight</b>: 500 × 800 weights" in window.heatmap.caption.text())


def test_chart_moves_every_panel(qtbot, window):
    window.tabs.setCurrentWidget(window.sparsity_split)
    chart = window.chart
    vb = chart.plot.plotItem.vb
    qtbot.waitUntil(lambda: vb.width() > 100)
    point = chart.plot.mapFromScene(vb.mapViewToScene(QPointF(1, 50)))  # the column of the second layer
    qtbot.mouseClick(chart.plot.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert_everywhere(window, "conv2")
    qtbot.waitUntil(lambda: "conv2.weight</b>: 50 × 500 weights" in window.heatmap.caption.text())


def test_graph_moves_every_panel(qtbot, window):
    canvas = window.graph.canvas
    node = next(n for n in window.info.graph.nodes if n.layer == "conv2")
    canvas.centre_on(node.id)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.node_centre(node.id).toPoint())
    assert window.layer == "conv2"
    assert window.layer_panel.details.values["Name"].text() == "conv2"
    assert window.table.model.name_at(window.table.proxy.mapToSource(window.table.view.currentIndex()).row()) == "conv2"


def test_the_table_sorts_by_number_and_filters(qtbot, window):
    table = window.table
    table.view.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # parameters
    names = [table.proxy.index(r, 0).data() for r in range(table.proxy.rowCount())]
    assert names == ["fc1", "conv2", "fc2", "conv1"]
    qtbot.keyClicks(table.filter, "CONV")
    assert [table.proxy.index(r, 0).data() for r in range(table.proxy.rowCount())] == ["conv2", "conv1"]
    assert table.proxy.index(0, 5).data() == "0.0%" and table.proxy.index(0, 4).data().endswith("KB")
    click_row(qtbot, window, "conv1")
    assert window.layer == "conv1"
