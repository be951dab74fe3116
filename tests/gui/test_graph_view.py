import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QToolButton  # noqa: E402

from studio.core.inspect.graph import Graph  # noqa: E402
from studio.gui.inspect.graph_view import EMPTY_HINT, GraphView  # noqa: E402


@pytest.fixture(scope="module")
def lenet():
    from studio.core.process.jobs import run_to_end
    from studio.core.project.analysis import open_model

    return run_to_end(open_model("sample:lenet-5"))


@pytest.fixture
def view(qtbot):
    view = GraphView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


def node(graph: Graph, name: str) -> int:
    return next(n.id for n in graph.nodes if n.name == name)


def screen(view, i: int) -> QPoint:
    return view.canvas.node_centre(i).toPoint()


def pixel(view, point: QPoint) -> QColor:
    return view.canvas.grab().toImage().pixelColor(point)


def ring_pixel(view, i: int) -> QColor:
    """A pixel just left of the box, where the selection or search ring is drawn."""
    half = view.canvas._layout.widths[i] / 2 * view.canvas._scale
    return pixel(view, screen(view, i) - QPoint(round(half) + 4, 0))


def fill_pixel(view, i: int) -> QColor:
    half = view.canvas._layout.widths[i] / 2 * view.canvas._scale
    return pixel(view, screen(view, i) - QPoint(round(half) - 4, 0))


def bluish(c: QColor) -> bool:
    return c.blue() - c.red() > 80


def orangish(c: QColor) -> bool:
    return c.red() - c.blue() > 80


def test_clicking_a_box_selects_its_layer(view, lenet, qtbot):
    view.show_graph(lenet.graph, lenet.stats)
    conv2 = node(lenet.graph, "conv2")
    assert not bluish(ring_pixel(view, conv2))
    with qtbot.waitSignal(view.layerSelected) as blocker:
        qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=screen(view, conv2))
    assert blocker.args == ["conv2"]
    assert bluish(ring_pixel(view, conv2))


def test_clicking_a_box_without_weights_or_empty_space_emits_nothing(view, lenet, qtbot):
    view.show_graph(lenet.graph, lenet.stats)
    with qtbot.assertNotEmitted(view.layerSelected):
        qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=screen(view, node(lenet.graph, "x")))
        qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))


def test_dragging_pans_instead_of_selecting(view, lenet, qtbot):
    view.show_graph(lenet.graph, lenet.stats)
    fc1 = node(lenet.graph, "fc1")
    start = screen(view, fc1)
    with qtbot.assertNotEmitted(view.layerSelected):
        qtbot.mousePress(view.canvas, Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(view.canvas, start + QPoint(60, 40))
        qtbot.mouseRelease(view.canvas, Qt.MouseButton.LeftButton, pos=start + QPoint(60, 40))
    assert screen(view, fc1) == start + QPoint(60, 40)


def test_select_layer_highlights_without_emitting_and_leaves_a_graph_in_full_view_alone(view, lenet, qtbot):
    view.show_graph(lenet.graph, lenet.stats)
    fc2 = node(lenet.graph, "fc2")
    where = screen(view, fc2)
    with qtbot.assertNotEmitted(view.layerSelected):
        view.select_layer("fc2")
    assert screen(view, fc2) == where
    assert bluish(ring_pixel(view, fc2))
    view.select_layer(None)
    assert not bluish(ring_pixel(view, fc2))


def chain(n: int) -> Graph:
    g = Graph()
    for i in range(n):
        g.add(f"n{i}", "Conv", layer=f"n{i}")
        if i:
            g.connect(i - 1, i)
    return g


def test_select_layer_centres_on_a_box_out_of_view(view, qtbot):
    g = chain(300)
    view.show_graph(g, {})
    with qtbot.assertNotEmitted(view.layerSelected):
        view.select_layer("n250")
    assert (screen(view, 250) - view.canvas.rect().center()).manhattanLength() <= 2
    assert bluish(ring_pixel(view, 250))


def test_centring_on_a_box_near_the_top_leaves_no_space_above_the_graph(view, qtbot):
    view.show_graph(chain(300), {})
    view.select_layer("n299")
    canvas = view.canvas
    assert canvas.visible_scene().bottom() == pytest.approx(canvas.scene_bounds().bottom())
    view.select_layer("n1")
    assert canvas.visible_scene().top() == pytest.approx(canvas.scene_bounds().top()) and bluish(ring_pixel(view, 1))


def test_a_graph_wider_than_the_canvas_opens_at_its_start_not_its_middle(view, qtbot):
    """A column whose branches far below make the graph wide (PP-OCR's recogniser): the view opens on the
    column's top, centred, and the first layer selected as the model opens keeps it there."""
    g = chain(200)
    for k in range(20):
        g.add(f"b{k}", "Conv", layer=f"b{k}")
        g.connect(150, len(g.nodes) - 1)
        g.connect(len(g.nodes) - 1, 199)
    view.show_graph(g, {})
    canvas = view.canvas
    assert canvas.scene_bounds().width() > canvas.visible_scene().width()
    assert canvas.visible_scene().top() == pytest.approx(canvas.scene_bounds().top())
    assert abs(screen(view, 0).x() - canvas.rect().center().x()) <= 2
    view.select_layer("n0")
    assert canvas.visible_scene().top() == pytest.approx(canvas.scene_bounds().top()) and bluish(ring_pixel(view, 0))


def test_search_finds_by_name_or_type_and_enter_jumps_to_each(view, lenet, qtbot):
    view.show_graph(lenet.graph, lenet.stats)
    view.canvas.zoom(2)  # not all in view, so each match is brought to the middle
    qtbot.keyClicks(view.search, "maxpool")
    assert view.found.text().startswith("2 found")
    pools = [node(lenet.graph, "pool1"), node(lenet.graph, "pool2")]
    assert all(orangish(ring_pixel(view, i)) for i in pools)
    assert not orangish(ring_pixel(view, node(lenet.graph, "conv1")))
    for expected in pools + pools[:1]:
        qtbot.keyClick(view.search, Qt.Key.Key_Return)
        assert (screen(view, expected) - view.canvas.rect().center()).manhattanLength() <= 2
    assert view.found.text() == "1 of 2"
    view.search.clear()
    qtbot.keyClicks(view.search, "FC1")
    assert view.found.text().startswith("1 found")
    view.search.setText("no such layer")
    assert view.found.text() == "Not found"


def test_colour_switch_recolours_boxes(view, lenet, qtbot):
    view.show_graph(lenet.graph, lenet.stats)
    conv1, fc1, pool1 = (node(lenet.graph, n) for n in ("conv1", "fc1", "pool1"))
    by_type = [fill_pixel(view, i) for i in (conv1, fc1, pool1)]
    buttons = {b.text(): b for b in view.modes.buttons()}
    qtbot.mouseClick(buttons["Parameters"], Qt.MouseButton.LeftButton)
    by_size = [fill_pixel(view, i) for i in (conv1, fc1, pool1)]
    assert by_size != by_type
    assert by_size[1].lightness() < by_size[0].lightness()  # 400,500 parameters are darker than 520
    assert by_size[2] == QColor("white")  # pooling has no weights
    qtbot.mouseClick(buttons["Sparsity"], Qt.MouseButton.LeftButton)
    by_zeros = [fill_pixel(view, i) for i in (conv1, fc1, pool1)]
    assert by_zeros[0] == by_zeros[1] != by_size[0]  # nothing pruned: both at 0 %
    qtbot.mouseClick(buttons["Type"], Qt.MouseButton.LeftButton)
    assert [fill_pixel(view, i) for i in (conv1, fc1, pool1)] == by_type


def control_flow_graph() -> Graph:
    body = Graph()
    a = body.add("body_in", "Input")
    b = body.add("inner_conv", "Conv", layer="loop/body/inner_conv")
    body.connect(a.id, b.id)
    then, other = Graph(), Graph()
    then.add("then_relu", "Relu")
    other.add("else_sigmoid", "Sigmoid")
    g = Graph()
    x = g.add("x", "Input")
    loop = g.add("loop", "Loop")
    loop.subgraphs["body"] = body
    branch = g.add("choose", "If")
    branch.subgraphs.update(then_branch=then, else_branch=other)
    g.connect(x.id, loop.id)
    g.connect(loop.id, branch.id)
    return g


def shown_names(view) -> set[str]:
    return {n.name for n in view.canvas._graph.nodes}


def test_double_click_opens_a_body_and_back_closes_it(view, qtbot):
    g = control_flow_graph()
    view.show_graph(g, {})
    assert not view.crumb_bar.isVisible()
    qtbot.mouseDClick(view.canvas, Qt.MouseButton.LeftButton, pos=screen(view, 1))
    assert shown_names(view) == {"body_in", "inner_conv"}
    assert view.crumb_bar.isVisible()
    qtbot.mouseClick(view.back, Qt.MouseButton.LeftButton)
    assert shown_names(view) == {"x", "loop", "choose"}
    assert not view.crumb_bar.isVisible()


def test_a_node_with_several_bodies_lets_the_user_pick_one(view, qtbot):
    view.show_graph(control_flow_graph(), {})
    qtbot.mouseDClick(view.canvas, Qt.MouseButton.LeftButton, pos=screen(view, 2))
    assert shown_names(view) == {"then_relu"}
    bodies = view.crumb_bar.findChild(QComboBox)
    bodies.setCurrentText("else_branch")
    assert shown_names(view) == {"else_sigmoid"}
    home = next(b for b in view.crumb_bar.findChildren(QToolButton) if b.text() == "Model")
    qtbot.mouseClick(home, Qt.MouseButton.LeftButton)
    assert shown_names(view) == {"x", "loop", "choose"}


def test_select_layer_inside_a_body_opens_it(view, qtbot):
    view.show_graph(control_flow_graph(), {})
    view.select_layer("loop/body/inner_conv")
    assert shown_names(view) == {"body_in", "inner_conv"}
    assert bluish(ring_pixel(view, 1))


def test_clear_shows_the_empty_state(view, lenet):
    view.show_graph(lenet.graph, lenet.stats)
    view.clear()
    assert view.canvas._message == EMPTY_HINT and view.canvas._layout is None
    assert not view.search.isEnabled()
    assert not view.canvas.legend.isVisible() and not view.canvas.minimap.isVisible()
    image = view.canvas.grab().toImage()
    centre = view.canvas.rect().center()
    row = [image.pixelColor(x, centre.y() + dy) for x in range(centre.x() - 80, centre.x() + 80) for dy in range(-6, 7)]
    assert any(c.lightness() < 180 for c in row)  # text is drawn in the middle


def test_a_model_without_a_graph_says_why(view):
    view.show_graph(Graph(note="A state_dict holds weights only"), {})
    assert view.canvas._message == "A state_dict holds weights only"
    assert not view.search.isEnabled()


def test_fit_shows_the_whole_graph_and_buttons_zoom(view, qtbot):
    view.show_graph(chain(300), {})
    assert view.canvas.minimap.isVisible()  # the graph is taller than the view
    fit = next(b for b in view.findChildren(QToolButton) if b.text() == "Fit")
    qtbot.mouseClick(fit, Qt.MouseButton.LeftButton)
    assert view.canvas.visible_scene().contains(view.canvas.scene_bounds())
    assert not view.canvas.minimap.isVisible()
    before = view.canvas._scale
    zoom_in = next(b for b in view.findChildren(QToolButton) if b.text() == "+")
    qtbot.mouseClick(zoom_in, Qt.MouseButton.LeftButton)
    assert view.canvas._scale == pytest.approx(before * 1.25)


def test_minimap_click_moves_the_view(view, qtbot):
    view.show_graph(chain(300), {})
    minimap = view.canvas.minimap
    top = view.canvas.visible_scene().top()
    qtbot.mouseClick(minimap, Qt.MouseButton.LeftButton, pos=QPoint(minimap.width() // 2, minimap.height() - 6))
    assert view.canvas.visible_scene().top() > top + 1000


def test_every_control_has_a_tooltip(view, lenet):
    view.show_graph(control_flow_graph(), {})
    view.canvas.doubleClicked.emit(2)
    buttons = [b for b in view.findChildren(QToolButton) if not isinstance(b.parent(), QLineEdit)]  # not its clear button
    controls = buttons + view.findChildren(QLineEdit) + view.findChildren(QComboBox)
    controls += [w for w in view.findChildren(QLabel) if w.text() not in ("", "›")]
    assert controls and all(w.toolTip() for w in controls), [w.text() for w in controls if not w.toolTip()]
    assert view.canvas.toolTip() and view.canvas.legend.toolTip() and view.canvas.minimap.toolTip()


def test_wheel_zooms_about_the_cursor_and_keys_move_the_view(view, lenet, qtbot):
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    view.show_graph(lenet.graph, lenet.stats)
    fc1 = node(lenet.graph, "fc1")
    at = view.canvas.node_centre(fc1)
    before = view.canvas._scale
    wheel = QWheelEvent(at, view.canvas.mapToGlobal(at), QPoint(), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.canvas, wheel)
    assert view.canvas._scale > before * 1.3
    assert (view.canvas.node_centre(fc1) - at).manhattanLength() < 1
    qtbot.keyClick(view.canvas, Qt.Key.Key_Down)
    assert view.canvas.node_centre(fc1).y() == pytest.approx(at.y() - 80)


def test_resizing_keeps_the_middle_in_place(view, lenet, qtbot):
    view.show_graph(lenet.graph, lenet.stats)
    view.canvas.zoom(2)
    view.canvas.centre_on(node(lenet.graph, "conv2"))
    view.resize(700, 500)
    qtbot.waitUntil(lambda: view.canvas.height() < 500)
    conv2 = node(lenet.graph, "conv2")
    assert (screen(view, conv2) - view.canvas.rect().center()).manhattanLength() <= 2


def fan(n: int) -> Graph:
    """One input feeding n branches side by side, joined again: a wide, low graph."""
    g = Graph()
    g.add("x", "Input")
    for i in range(n):
        g.add(f"b{i}", "Conv", layer=f"b{i}")
        g.connect(0, i + 1)
    g.add("join", "Concat")
    for i in range(n):
        g.connect(i + 1, n + 1)
    return g


def box(view, i: int):
    from PySide6.QtCore import QRectF

    canvas = view.canvas
    centre, scale = canvas.node_centre(i), canvas._scale
    w, h = canvas._layout.widths[i] * scale, canvas._layout.height * scale
    return QRectF(centre.x() - w / 2, centre.y() - h / 2, w, h)


@pytest.mark.parametrize("graph", ["lenet", "fan"])
def test_a_graph_that_fits_opens_whole_and_clear_of_the_legend(view, lenet, graph, qtbot):
    from PySide6.QtCore import QRectF

    g, stats = (lenet.graph, lenet.stats) if graph == "lenet" else (fan(9), {})
    view.resize(900, 520)  # a 1366 × 768 screen's middle, with the Run panel open
    qtbot.waitUntil(lambda: view.canvas.height() < 520)
    view.show_graph(g, stats)
    canvas = view.canvas
    assert canvas.visible_scene().adjusted(-1, -1, 1, 1).contains(canvas.scene_bounds())  # whole, not its top at 100 %
    legend = QRectF(canvas.legend.geometry())
    assert canvas.legend.isVisible() and not any(box(view, i).intersects(legend) for i in range(len(g.nodes)))


def test_selecting_a_box_in_view_leaves_the_view_alone(view, qtbot):
    """A model opens with its first layer selected: the view stays where it opened (at the top), not
    centred on that layer with the space above the graph in view."""
    view.show_graph(chain(300), {})
    top = view.canvas.visible_scene().top()
    view.select_layer("n1")
    assert view.canvas.visible_scene().top() == top and bluish(ring_pixel(view, 1))


def columns(width: int, depth: int) -> Graph:
    """`width` chains of `depth` boxes side by side: too tall to show whole, as wide as the canvas."""
    g = Graph()
    for c in range(width):
        for d in range(depth):
            g.add(f"c{c}_{d}", "Conv", layer=f"c{c}_{d}")
            if d:
                g.connect(len(g.nodes) - 2, len(g.nodes) - 1)
    return g


def test_the_legend_opens_folded_where_it_would_cover_boxes_and_a_click_unfolds_it(view, qtbot):
    from PySide6.QtCore import QRectF

    view.resize(900, 520)
    view.show_graph(columns(7, 60), {})
    legend = view.canvas.legend
    folded = legend.size()
    assert legend.folded and legend.isVisible() and folded.height() < 25
    qtbot.mouseClick(legend, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert not legend.folded and legend.height() > folded.height() and legend.width() > folded.width()
    assert view.canvas.visible_scene().top() < view.canvas.scene_bounds().top() + 1  # the click did not pan or select
    qtbot.mouseClick(legend, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert legend.folded

    view.show_graph(chain(300), {})  # one column in the middle: nothing under the legend, which stays open
    assert not legend.folded and not any(box(view, i).intersects(QRectF(legend.geometry())) for i in range(300))
