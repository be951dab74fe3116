"""The layer graph: boxes and arrows laid out top to bottom, zoomable, searchable, coloured by type,
size or sparsity, with an overview map and a way into blocks (a transformer's layers) and control-flow bodies.

The canvas paints straight from the layout's numpy positions, only what is in view, and drops detail
as it zooms out (labels, then rounded corners and arrowheads), so 10,000 nodes stay smooth to pan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QLinearGradient, QPainter, QPainterPath, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QButtonGroup, QComboBox, QHBoxLayout, QLabel, QLineEdit, QToolButton, QToolTip, QVBoxLayout, QWidget

from studio.core.inspect.graph import Graph, Node
from studio.core.inspect.graph_blocks import Block
from studio.core.inspect.layout import Layout, layered_layout
from studio.gui.common.metric_text import dims, hidden_axes

if TYPE_CHECKING:
    from studio.core.inspect.stats import WeightStats

EMPTY_HINT = "Open a model or try a sample"
NODE_HEIGHT = 54.0
LOD_TEXT = 0.42  # zoom from which labels are drawn (type text ≥ 5 px)
LOD_DETAIL = 0.2  # zoom from which boxes get rounded corners, borders and arrowheads
LOD_EDGES = 0.03  # below this rows are under 3 px apart: edges would only smear the boxes
READABLE = 0.8  # zoom used when jumping to a node from far out
EDGE_CHUNK = 256  # edges per cached path; only chunks in view are drawn
RAMP_STEPS = 32

BACKGROUND = QColor("#f7f8fa")
INK = QColor("#1f2328")
MUTED = QColor("#667085")
EDGE = QColor("#98a2b3")
BORDER = QColor("#8c95a3")
SELECTED = QColor("#1c64f2")
MATCH = QColor("#f08c00")
NO_WEIGHTS = QColor("#ffffff")

CATEGORIES = [  # legend label, fill, words looked for in the lower-case type (first hit wins)
    ("Convolution", "#c6dbf7", ("conv",)),
    ("Linear / matrix multiply", "#ddd3f3", ("linear", "gemm", "matmul", "addmm", "bmm", "einsum", "embedding", "attention")),
    ("Normalisation", "#cfead2", ("norm",)),
    ("Pooling", "#c5e8ec", ("pool",)),
    ("Activation", "#fde0c5", ("relu", "elu", "sigmoid", "tanh", "softmax", "swish", "mish", "clip", "softplus", "hardtanh")),
    ("Reshape / move", "#e9eaee", ("reshape", "flatten", "view", "transpose", "permute", "squeeze", "gather", "scatter",
                                   "slice", "shape", "expand", "cast", "identity", "dropout", "pad", "split", "resize", "upsample")),
    ("Arithmetic / merge", "#f6efc4", ("add", "sub", "mul", "div", "concat", "cat", "sum", "mean", "pow", "sqrt", "reduce",
                                       "max", "min", "where", "exp", "log")),
]
INPUT_OUTPUT = ("Input / output", "#4a5668")
CONTROL_FLOW = ("Control flow (double-click to open)", "#f6d3ec")
BLOCK = ("Block (double-click to open)", "#a9bdfc")
OTHER = ("Other", "#ffffff")
MODES = [  # key, button text, tooltip
    ("type", "Type", "Colour each box by what kind of operation it is"),
    ("parameters", "Parameters", "Colour each box by how many weights its layer (a block: its layers) has (log scale)"),
    ("sparsity", "Sparsity", "Colour each box by the share of its layer's (a block: its layers') weights that are exactly zero"),
    ("time", "Time", "Colour each box by its measured time in ONNX Runtime (profile the version first: Time tab)"),
]
NO_TIME_TIP = "Profile the version (Time tab) to colour the boxes by their measured time"
BUTTON_STYLE = """
QToolButton { padding: 3px 9px; border: 1px solid #c4cad4; border-radius: 4px; background: white; color: #1f2328; }
QToolButton:hover { background: #eef3fb; }
QToolButton:checked { background: #dbe7fd; border-color: #1c64f2; color: #0b3aa4; }
QToolButton:disabled { color: #a0a7b4; border-color: #e1e4e8; }
"""
RAMPS = {"parameters": ("#d3e4f7", "#7fb0dd", "#1f4e8c"), "sparsity": ("#fde3c8", "#f4a259", "#9c3d0a"),
         "time": ("#fff3bf", "#f59f00", "#c92a2a")}
TICK_WIDTH = 110  # a legend tick label such as "0.0123 ms (27 %)"


@dataclass
class Colouring:
    index: np.ndarray  # palette entry of each node
    palette: list[QColor]
    legend: list[tuple[str, QColor]]  # type mode: one swatch per category shown
    ramp: tuple[str, list[str]] | None = None  # number modes: the legend's title and tick labels
    empty: str = "No weights"  # number modes: what the boxes left white are


class GraphView(QWidget):
    """A model's layer graph. Clicking a box selects its layer everywhere (layerSelected)."""

    layerSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._stats: dict[str, WeightStats] = {}
        self._stack: list[tuple[Graph, Node | None, str]] = []  # root first: (graph, node it is a body of, body name)
        self._layouts: dict[int, Layout] = {}
        self._mode = "type"
        self._times: dict[str, float] = {}  # ms by box name, from the profile of the version shown
        self._time_total = 0.0
        self._time_label = ""
        self._layer: str | None = None
        self._overview = False  # the model just opened: its first layer is marked on its block, not opened
        self._matches = np.zeros(0, dtype=int)
        self._match_at = -1

        self.canvas = _Canvas(self._describe, self)
        self.canvas.clicked.connect(self._clicked)
        self.canvas.doubleClicked.connect(self._open_body)
        self.search = QLineEdit(placeholderText="Find by name or type", clearButtonEnabled=True)
        self.search.setToolTip("Highlight the boxes whose name or type contains this text, and the blocks holding such boxes; "
                               "Enter jumps to the next one")
        self.search.setMinimumWidth(140)  # room for the four Colour by buttons on a 1366-pixel screen
        self.search.setMaximumWidth(280)
        self.search.textChanged.connect(self._find)
        self.search.returnPressed.connect(self._next_match)
        self.found = QLabel()
        self.found.setToolTip("How many boxes match the search")
        self.found.setStyleSheet("color: #667085")
        colour_label = QLabel("Colour by:")
        colour_label.setToolTip("What the box colours show; the legend in the lower left explains them")
        self.modes = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        self._controls: list[QWidget] = [self.search]
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        bar.addWidget(self.search)
        bar.addWidget(self.found)
        bar.addStretch(1)
        bar.addWidget(colour_label)
        for key, text, tip in MODES:
            button = _tool_button(text, tip, checkable=True, checked=key == self._mode)
            button.clicked.connect(lambda _=False, k=key: self._set_mode(k))
            self.modes.addButton(button)
            self.mode_buttons[key] = button
            self._controls.append(button)
            bar.addWidget(button)
        bar.addSpacing(12)
        for text, tip, slot in [("−", "Zoom out (or turn the mouse wheel)", lambda: self.canvas.zoom(1 / 1.25)),
                                ("+", "Zoom in (or turn the mouse wheel)", lambda: self.canvas.zoom(1.25)),
                                ("Fit", "Show the whole graph", self.canvas.fit)]:
            button = _tool_button(text, tip)
            button.clicked.connect(slot)
            self._controls.append(button)
            bar.addWidget(button)

        self.back = _tool_button("← Back", "Go back to the graph that contains this one")
        self.back.clicked.connect(lambda: self._go_to(len(self._stack) - 2))
        self.crumbs = QHBoxLayout()
        self.crumbs.setContentsMargins(6, 0, 6, 4)
        self.crumb_bar = QWidget()
        self.crumb_bar.setLayout(self.crumbs)
        self.back.setParent(self.crumb_bar)  # a parentless button outlives the view as a top-level widget
        self.crumb_bar.hide()

        self.setStyleSheet(BUTTON_STYLE)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addLayout(bar)
        column.addWidget(self.crumb_bar)
        column.addWidget(self.canvas, 1)
        self.clear()

    # -- public interface -------------------------------------------------------------------------

    def show_graph(self, graph: Graph, layer_stats: dict[str, WeightStats]) -> None:
        self._stats = layer_stats
        self._clear_times()
        self._layouts.clear()
        self._stack = [(graph, None, "")]
        self._overview = True
        self._show_top()

    def select_layer(self, name: str | None) -> None:
        """Highlight the boxes of that layer (entering the body that holds it) and centre on them. As a
        model opens, its overview stays: a layer inside a block is marked on the block instead."""
        self._layer = name
        if name is not None and self._stack and not self._nodes_of(name):
            root = self._stack[0][0]
            path = [] if any(n.layer == name for n in root.nodes) else _path_to_layer(root, name)
            overview = self._overview and len(self._stack) == 1 and path and isinstance(path[0][0], Block)
            if path is not None and not overview:
                self._stack = self._stack[:1]
                for node, key in path:
                    self._stack.append((node.subgraphs[key], node, key))
                self._show_top()
        self._overview = False
        ids = self._marks(name)
        self.canvas.set_selection(ids)
        if ids:
            self.canvas.centre_on(ids[0], if_hidden=True)

    def show_times(self, times: dict[str, float], total: float, label: str) -> None:
        """Measured ms by box name, of `total` ms of all nodes, for the version `label`; the Time colouring
        shows them. {}: none (the Time colouring is left)."""
        if not times:
            self._clear_times()
            if self._mode == "time":
                self._set_mode("type")
            return
        self._times, self._time_total, self._time_label = times, total, label
        self._enable(bool(self._stack and self._graph().nodes))
        if self._mode == "time":
            self._set_mode("time")

    def _clear_times(self) -> None:
        self._times, self._time_total, self._time_label = {}, 0.0, ""
        if self._mode == "time":
            self._mode = "type"
            self.mode_buttons["type"].setChecked(True)
        self.mode_buttons["time"].setEnabled(False)
        self.mode_buttons["time"].setToolTip(NO_TIME_TIP)

    def clear(self) -> None:
        self._stack = []
        self._stats = {}
        self._layouts.clear()
        self._layer = None
        self.search.clear()
        self.canvas.set_content(None, None, [], EMPTY_HINT)
        self._enable(False)
        self._update_crumbs()

    # -- internals --------------------------------------------------------------------------------

    def _graph(self) -> Graph | None:
        return self._stack[-1][0] if self._stack else None

    def _nodes_of(self, layer: str | None) -> list[int]:
        graph = self._graph()
        return [n.id for n in graph.nodes if n.layer == layer] if graph and layer is not None else []

    def _marks(self, layer: str | None) -> list[int]:
        """The boxes of that layer here, else the blocks here that hold it."""
        graph, ids = self._graph(), self._nodes_of(layer)
        if ids or graph is None or layer is None:
            return ids
        return [n.id for n in graph.nodes if isinstance(n, Block) and _holds(n, layer)]

    def _enable(self, on: bool) -> None:
        for control in self._controls:
            control.setEnabled(on)
        timed = on and bool(self._times)
        self.mode_buttons["time"].setEnabled(timed)
        self.mode_buttons["time"].setToolTip(MODES[-1][2] if timed else NO_TIME_TIP)

    def _show_top(self) -> None:
        graph = self._graph()
        self._enable(bool(graph.nodes))
        self._update_crumbs()
        if not graph.nodes:
            self.canvas.set_content(None, None, [], graph.note or "This model has no layer graph to show")
            return
        texts = [_texts(n) for n in graph.nodes]
        layout = self._layouts.get(id(graph))
        if layout is None:
            layout = layered_layout(graph, widths=_widths(texts), node_height=NODE_HEIGHT, row_gap=34, node_gap=28)
            self._layouts[id(graph)] = layout
        self.canvas.set_content(graph, layout, texts, "")
        self.canvas.set_colouring(self._colouring(graph, self._mode))
        self.canvas.set_selection(self._marks(self._layer))
        self._find(self.search.text())

    def _update_crumbs(self) -> None:
        while self.crumbs.count():
            item = self.crumbs.takeAt(0)
            if item.widget() and item.widget() is not self.back:
                item.widget().deleteLater()
        self.crumb_bar.setVisible(len(self._stack) > 1)
        if len(self._stack) < 2:
            return
        self.crumbs.addWidget(self.back)
        for depth, (_, owner, key) in enumerate(self._stack[:-1]):
            text = "Model" if owner is None else _crumb(owner, key)
            crumb = _tool_button(text, f"Go back to {text}")
            crumb.clicked.connect(lambda _=False, d=depth: self._go_to(d))
            self.crumbs.addWidget(crumb)
            self.crumbs.addWidget(QLabel("›"))
        _, owner, key = self._stack[-1]
        here = QLabel(f"<b>{escape(owner.name if len(owner.subgraphs) > 1 else _crumb(owner, key))}</b>")
        here.setToolTip(f"You are inside {owner.type} {owner.name}")
        self.crumbs.addWidget(here)
        if len(owner.subgraphs) > 1:
            bodies = QComboBox()
            bodies.setToolTip(f"{owner.name} has several bodies: pick the one to show")
            bodies.addItems(list(owner.subgraphs))
            bodies.setCurrentText(key)
            bodies.currentTextChanged.connect(lambda new: self._switch_body(owner, new))
            self.crumbs.addWidget(bodies)
        self.crumbs.addStretch(1)

    def _switch_body(self, owner: Node, key: str) -> None:
        self._stack[-1] = (owner.subgraphs[key], owner, key)
        self._show_top()

    def _go_to(self, depth: int) -> None:
        if 0 <= depth < len(self._stack) - 1:
            del self._stack[depth + 1:]
            self._show_top()

    def _open_body(self, node_id: int) -> None:
        node = self._graph().nodes[node_id]
        if node.subgraphs:
            key = next(iter(node.subgraphs))
            self._stack.append((node.subgraphs[key], node, key))
            self._show_top()

    def _describe(self, node_id: int) -> str:
        node = self._graph().nodes[node_id]
        lines = [f"<b>{escape(node.type)}</b> {escape(node.name)}"]
        if node.shape is not None:
            lines.append(f"Output shape: {escape(_texts(node)[2])}")
            lines += [escape(axis) for axis in hidden_axes(node.shape)]  # the box shows ? for a long formula
        if isinstance(node, Block):
            lines.append(f"Holds {_operations(node):,} operations")
        parameters, sparsity = _weights(node, self._stats)
        if parameters:
            lines.append(f"Weights: {parameters:,} parameters, {sparsity:.1%} of them zero")
        else:
            lines.append("No weights")
        if self._times:
            ms = _time_of(node, self._times)
            lines.append(f"Time in {escape(self._time_label)}: " + ("not timed apart" if ms is None else
                         f"{ms:.3g} ms per run ({ms / max(self._time_total, 1e-12):.1%} of all nodes)"))
        if node.layer is not None:
            lines.append(f"Click to select layer <i>{escape(node.layer)}</i>")
        if isinstance(node, Block):
            lines.append("Double-click to open it")
        elif node.subgraphs:
            lines.append(f"Double-click to open its {'body' if len(node.subgraphs) == 1 else 'bodies'}: {escape(', '.join(node.subgraphs))}")
        return "<br>".join(lines)

    def _clicked(self, node_id: int) -> None:
        node = self._graph().nodes[node_id]
        self._layer = node.layer
        self.canvas.set_selection(self._nodes_of(node.layer) if node.layer is not None else [node_id])
        if node.layer is not None:
            self.layerSelected.emit(node.layer)

    def _set_mode(self, mode: str) -> None:
        self._mode = mode
        if self._graph() is not None and self._graph().nodes:
            self.canvas.set_colouring(self._colouring(self._graph(), mode))

    def _colouring(self, graph: Graph, mode: str) -> Colouring:
        if mode == "time":
            return _time_colouring(graph, self._times, self._time_total, self._time_label)
        return _colouring(graph, self._stats, mode)

    def _find(self, text: str) -> None:
        graph, query = self._graph(), text.strip().lower()
        if graph is None or not query:
            self._matches = np.zeros(0, dtype=int)
            self.found.setText("")
        else:
            self._matches = np.array([n.id for n in graph.nodes if _matches(n, query)], dtype=int)
            self.found.setText(f"{len(self._matches)} found — Enter for next" if len(self._matches) else "Not found")
        self._match_at = -1
        self.canvas.set_matches(self._matches, -1)

    def _next_match(self) -> None:
        if not len(self._matches):
            return
        self._match_at = (self._match_at + 1) % len(self._matches)
        current = int(self._matches[self._match_at])
        self.found.setText(f"{self._match_at + 1} of {len(self._matches)}")
        self.canvas.set_matches(self._matches, current)
        self.canvas.centre_on(current)


class _Canvas(QWidget):
    """Paints a laid-out graph under a pan/zoom transform; scene units are pixels at zoom 1."""

    clicked = Signal(int)
    doubleClicked = Signal(int)
    viewChanged = Signal()

    def __init__(self, describe, parent: QWidget | None = None):
        super().__init__(parent)
        self.describe = describe  # node id → tooltip text
        self.setMinimumSize(200, 150)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Drag to move, turn the wheel (or + and −) to zoom, click a box to select its layer")
        self._graph: Graph | None = None
        self._layout: Layout | None = None
        self._message = EMPTY_HINT
        self._scale, self._ox, self._oy = 1.0, 0.0, 0.0
        self._auto_view = True  # until the user moves the view, resizing re-applies the opening view
        self._press: QPointF | None = None
        self._dragged = False
        self._selection = np.zeros(0, dtype=int)
        self._matches = np.zeros(0, dtype=int)
        self._current = -1
        self.colouring: Colouring | None = None
        self._fonts = _fonts()
        self.legend = _Legend(self)
        self.minimap = _Minimap(self)

    # -- content ----------------------------------------------------------------------------------

    def set_content(self, graph: Graph | None, layout: Layout | None, texts: list, message: str) -> None:
        self._graph, self._layout, self._texts, self._message = graph, layout, texts, message
        self._elided: dict[int, str] = {}
        self._selection = self._matches = np.zeros(0, dtype=int)
        self._current = -1
        self.colouring = None
        if layout is not None:
            h = layout.height
            self._rects = [QRectF(x - w / 2, y - h / 2, w, h) for x, y, w in zip(layout.x.tolist(), layout.y.tolist(), layout.widths.tolist())]
            self._left, self._right = layout.x - layout.widths / 2, layout.x + layout.widths / 2
            self._stacked = [i for i, n in enumerate(graph.nodes) if n.subgraphs]
            self._chunks = _edge_chunks(graph, layout)
        self.legend.setVisible(layout is not None)  # before the view is chosen: boxes are kept from under it
        self.legend.folded = False  # each model's opening view decides
        if layout is not None:
            self._opening_view()
        if layout is None:
            self.minimap.hide()
        self.minimap.render_soon()
        self.update()

    def set_colouring(self, colouring: Colouring) -> None:
        self.colouring = colouring
        self._ink = [INK if _light(c) else QColor("white") for c in colouring.palette]
        self._border = [c.darker(135) for c in colouring.palette]
        self.legend.refresh()
        if self._auto_view and self._layout is not None:  # the legend has its new size: keep the boxes clear of it
            self._opening_view()
        self.minimap.render_soon()
        self.update()

    def set_selection(self, ids) -> None:
        self._selection = np.asarray(ids, dtype=int)
        self.update()

    def set_matches(self, ids: np.ndarray, current: int) -> None:
        self._matches, self._current = ids, current
        self.update()

    # -- view -------------------------------------------------------------------------------------

    def scene_bounds(self) -> QRectF:
        left, top, right, bottom = self._layout.bounds()
        return QRectF(left, top, right - left, bottom - top).adjusted(-20, -20, 20, 20)

    def visible_scene(self) -> QRectF:
        return QRectF(self._ox, self._oy, self.width() / self._scale, self.height() / self._scale)

    def _fit_scale(self, area: QRectF | None = None) -> float:
        bounds, area = self.scene_bounds(), area or QRectF(self.rect())
        return min(area.width() / bounds.width(), area.height() / bounds.height())

    def _opening_view(self) -> None:
        """The whole graph if its labels are drawn at that zoom, else its top at a readable zoom, as
        wide as the canvas allows (the overview map then shows the whole)."""
        bounds = self.scene_bounds()
        if self._fit_view(1.0) < LOD_TEXT:
            scale = max(min(READABLE, self.width() / bounds.width()), LOD_TEXT + 0.1)
            self._set_view(scale, self._start_left(scale), bounds.top())
            if not self.legend.folded and self._covers_boxes(QRectF(self.legend.geometry())):
                self.legend.folded = True
                self.legend.refresh()
        self._auto_view = True

    def _start_left(self, scale: float) -> float:
        """The view's left edge that centres the boxes of the graph's first screenful: a graph wider than the
        canvas starts in view, not its middle (PP-OCR's recogniser: a column on the left, branches far right)."""
        bounds, width = self.scene_bounds(), self.width() / scale
        first = self._layout.y < bounds.top() + self.height() / scale
        centre = (self._left[first].min() + self._right[first].max()) / 2 if first.any() else bounds.center().x()
        return centre - width / 2

    def _covers_boxes(self, screen: QRectF) -> bool:
        """Whether boxes lie under `screen` (canvas pixels) in the current view."""
        layout, s = self._layout, self._scale
        left, top = self._ox + screen.left() / s, self._oy + screen.top() / s
        right, bottom = left + screen.width() / s, top + screen.height() / s
        half = layout.height / 2
        return bool(np.any((self._right > left) & (self._left < right) & (layout.y + half > top) & (layout.y - half < bottom)))

    def fit(self) -> None:
        if self._layout is not None:
            self._fit_view(1.5)

    def _fit_view(self, most: float) -> float:
        """Show the whole graph at up to `most` zoom, centred, and clear of the legend in the lower left:
        if boxes would lie under it, in the part of the canvas right of it. Returns the zoom."""
        bounds, area = self.scene_bounds(), QRectF(self.rect())
        scale = min(self._fit_scale(area), most)
        shown = QRectF(area.center().x() - bounds.width() * scale / 2, area.center().y() - bounds.height() * scale / 2,
                       bounds.width() * scale, bounds.height() * scale)
        if not self.legend.isHidden() and shown.intersects(QRectF(self.legend.geometry())):
            area.setLeft(self.legend.geometry().right() + 10)
            scale = min(self._fit_scale(area), most)
        centre = area.center()
        self._set_view(scale, bounds.center().x() - centre.x() / scale, bounds.center().y() - centre.y() / scale)
        return scale

    def zoom(self, factor: float, anchor: QPointF | None = None) -> None:
        if self._layout is None:
            return
        anchor = anchor or QPointF(self.width() / 2, self.height() / 2)
        scale = min(max(self._scale * factor, min(self._fit_scale() * 0.5, 0.1)), 4.0)
        sx, sy = self._ox + anchor.x() / self._scale, self._oy + anchor.y() / self._scale
        self._set_view(scale, sx - anchor.x() / scale, sy - anchor.y() / scale)

    def pan(self, dx: float, dy: float) -> None:
        """Move the view by screen pixels."""
        self._set_view(self._scale, self._ox + dx / self._scale, self._oy + dy / self._scale)

    def centre_on(self, node_id: int, if_hidden: bool = False) -> None:
        """Bring a node to the middle, zooming in only if its label would not show; a graph that is
        wholly in view with its labels stays put, and with `if_hidden` so does a view that shows the
        node readably already (the first layer, selected as a model opens, stays where the view opened)."""
        layout = self._layout
        if self._scale >= LOD_TEXT and self.visible_scene().contains(self.scene_bounds()):
            return
        if if_hidden and self._scale >= LOD_TEXT and self.visible_scene().contains(QPointF(layout.x[node_id], layout.y[node_id])):
            return
        self._centre_at(QPointF(layout.x[node_id], layout.y[node_id]), self._scale if self._scale >= LOD_TEXT else READABLE)

    def _centre_at(self, point: QPointF, scale: float) -> None:
        """`point` in the middle, but no empty space above or below a graph taller than the canvas (a model's
        first layer, selected as it opens, stays near the top)."""
        bounds, height = self.scene_bounds(), self.height() / scale
        self._set_view(scale, point.x() - self.width() / scale / 2, _within(point.y() - height / 2, bounds.top(), bounds.bottom() - height))

    def _set_view(self, scale: float, ox: float, oy: float) -> None:
        self._scale, self._ox, self._oy = scale, ox, oy
        self._auto_view = False
        self.minimap.setVisible(not self.visible_scene().contains(self.scene_bounds()))
        self.update()
        self.viewChanged.emit()

    def node_at(self, pos: QPointF) -> int | None:
        if self._layout is None:
            return None
        x, y = self._ox + pos.x() / self._scale, self._oy + pos.y() / self._scale
        hits = np.flatnonzero((self._left <= x) & (x <= self._right) & (np.abs(self._layout.y - y) <= self._layout.height / 2))
        return int(hits[0]) if len(hits) else None

    def node_centre(self, node_id: int) -> QPointF:
        """Where a node is on screen (for tests and tooltips)."""
        return QPointF((self._layout.x[node_id] - self._ox) * self._scale, (self._layout.y[node_id] - self._oy) * self._scale)

    # -- events -----------------------------------------------------------------------------------

    def resizeEvent(self, event) -> None:
        if self._layout is not None and self._auto_view:
            self._opening_view()
        elif self._layout is not None and event.oldSize().isValid():  # keep what was in the middle there
            grown = event.size() - event.oldSize()
            self.pan(-grown.width() / 2, -grown.height() / 2)
        self.legend.place()
        self.minimap.place()

    def keyPressEvent(self, event) -> None:
        step = 80
        actions = {Qt.Key.Key_Plus: lambda: self.zoom(1.25), Qt.Key.Key_Equal: lambda: self.zoom(1.25),
                   Qt.Key.Key_Minus: lambda: self.zoom(1 / 1.25), Qt.Key.Key_0: self.fit,
                   Qt.Key.Key_Left: lambda: self.pan(-step, 0), Qt.Key.Key_Right: lambda: self.pan(step, 0),
                   Qt.Key.Key_Up: lambda: self.pan(0, -step), Qt.Key.Key_Down: lambda: self.pan(0, step)}
        action = actions.get(Qt.Key(event.key()))
        if action is None:
            super().keyPressEvent(event)
        else:
            action()

    def wheelEvent(self, event) -> None:
        self.zoom(1.0015 ** event.angleDelta().y(), event.position())

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press, self._dragged = event.position(), False

    def mouseMoveEvent(self, event) -> None:
        if self._press is None:
            return
        delta = event.position() - self._press
        if self._dragged or abs(delta.x()) + abs(delta.y()) > 4:
            self._dragged = True
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self.pan(-delta.x(), -delta.y())
            self._press = event.position()

    def mouseReleaseEvent(self, event) -> None:
        if self._press is not None and not self._dragged:
            hit = self.node_at(event.position())
            if hit is not None:
                self.clicked.emit(hit)
        self._press = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, event) -> None:
        hit = self.node_at(event.position())
        if hit is not None:
            self.doubleClicked.emit(hit)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            hit = self.node_at(QPointF(event.pos()))
            if hit is not None:
                QToolTip.showText(event.globalPos(), self.describe(hit), self)
                return True
        return super().event(event)

    # -- painting ---------------------------------------------------------------------------------

    def paintEvent(self, _) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self._layout is None or self.colouring is None:
            painter.setPen(MUTED)
            painter.setFont(self._fonts["message"])
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            return
        s = self._scale
        view = self.visible_scene()
        painter.setTransform(QTransform(s, 0, 0, s, -self._ox * s, -self._oy * s))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, s >= LOD_DETAIL)
        if s >= LOD_EDGES:
            self._paint_edges(painter, view)
        layout = self._layout
        h = layout.height / 2
        shown = np.flatnonzero((self._right >= view.left()) & (self._left <= view.right())
                               & (layout.y + h >= view.top()) & (layout.y - h <= view.bottom()))
        if s < LOD_DETAIL:
            self._paint_blocks(painter, shown)
        else:
            self._paint_boxes(painter, shown, s >= LOD_TEXT)
        in_view = np.zeros(len(layout.x), dtype=bool)
        in_view[shown] = True
        self._paint_marks(painter, in_view)

    def _paint_edges(self, painter: QPainter, view: QRectF) -> None:
        pen = QPen(EDGE, 1.3)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        chunks = [c for c in self._chunks if c[0].intersects(view)]
        for _, path, _ in chunks:
            painter.drawPath(path)
        if self._scale >= LOD_DETAIL:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(EDGE)
            for _, _, arrows in chunks:
                painter.drawPath(arrows)

    def _paint_blocks(self, painter: QPainter, shown: np.ndarray) -> None:
        if len(shown) > 1000:  # far out many boxes share a pixel: draw one per 2×2 pixel cell
            cx = np.floor((self._layout.x[shown] - self._ox) * self._scale / 2).astype(np.int64)
            cy = np.floor((self._layout.y[shown] - self._oy) * self._scale / 2).astype(np.int64)
            shown = shown[np.sort(np.unique(cx * (1 << 32) + cy, return_index=True)[1])]
        index = self.colouring.index[shown]
        for entry in np.unique(index).tolist():
            pen = QPen(self._border[entry], 1)
            pen.setCosmetic(True)  # at least a pixel, however far out
            painter.setPen(pen)
            painter.setBrush(self.colouring.palette[entry])
            painter.drawRects([self._rects[i] for i in shown[index == entry].tolist()])

    def _paint_boxes(self, painter: QPainter, shown: np.ndarray, labels: bool) -> None:
        palette, index = self.colouring.palette, self.colouring.index
        stacked = set(self._stacked)
        for i in shown.tolist():
            rect, entry = self._rects[i], index[i]
            painter.setPen(QPen(self._border[entry], 1))
            painter.setBrush(palette[entry])
            if i in stacked:  # a card behind the box: there is more inside
                painter.drawRoundedRect(rect.translated(5, 5), 6, 6)
            painter.drawRoundedRect(rect, 6, 6)
            if labels:
                self._paint_label(painter, i, rect, self._ink[entry])

    def _paint_label(self, painter: QPainter, i: int, rect: QRectF, ink: QColor) -> None:
        kind, name, detail = self._texts[i]
        inner = rect.adjusted(8, 4, -8, -4)
        third = inner.height() / 3
        centre = Qt.AlignmentFlag.AlignCenter
        painter.setPen(ink)
        painter.setFont(self._fonts["type"])
        painter.drawText(QRectF(inner.left(), inner.top(), inner.width(), third), centre, kind)
        if i not in self._elided:
            self._elided[i] = QFontMetricsF(self._fonts["name"]).elidedText(name, Qt.TextElideMode.ElideMiddle, inner.width())
        painter.setFont(self._fonts["name"])
        painter.drawText(QRectF(inner.left(), inner.top() + third, inner.width(), third), centre, self._elided[i])
        if detail and self._scale >= LOD_TEXT + 0.15:
            painter.setFont(self._fonts["detail"])
            painter.drawText(QRectF(inner.left(), inner.top() + 2 * third, inner.width(), third), centre, detail)

    def _paint_marks(self, painter: QPainter, in_view: np.ndarray) -> None:
        """Search matches and the selection: rings that stay visible however far out."""
        grow = 4 / self._scale
        painter.setBrush(Qt.BrushStyle.NoBrush)
        current = np.array([self._current] if self._current >= 0 else [], dtype=int)
        for ids, colour, width in [(self._matches, MATCH, 2.0), (current, MATCH, 4.0), (self._selection, SELECTED, 3.0)]:
            pen = QPen(colour, width)
            pen.setCosmetic(True)
            painter.setPen(pen)
            for i in ids[in_view[ids]].tolist():
                painter.drawRoundedRect(self._rects[i].adjusted(-grow, -grow, grow, grow), 6 + grow, 6 + grow)


class _Legend(QWidget):
    """What the colours mean, in the canvas's lower-left corner; a click folds it to one line (it opens
    folded where it would cover boxes) and unfolds it."""

    FOLDED = "Colours ▸"

    def __init__(self, canvas: _Canvas):
        super().__init__(canvas)
        self.canvas = canvas
        self.folded = False
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("What the box colours mean (change it with “Colour by” above); click to fold or unfold")

    def mousePressEvent(self, event) -> None:
        self.folded = not self.folded
        self.refresh()
        event.accept()

    def refresh(self) -> None:
        colouring = self.canvas.colouring
        metrics = QFontMetricsF(self.canvas._fonts["legend"])
        if self.folded:
            self.resize(int(metrics.horizontalAdvance(self.FOLDED) + 20), 22)
        elif colouring.ramp is None:
            width = max(metrics.horizontalAdvance(label) for label, _ in colouring.legend) + 50
            self.resize(int(width), 14 + 18 * len(colouring.legend))
        else:
            self.resize(int(max(metrics.horizontalAdvance(colouring.ramp[0]) + 24, 2 * TICK_WIDTH + 40)), 76)
        self.place()
        self.update()

    def place(self) -> None:
        self.move(10, self.canvas.height() - self.height() - 10)

    def paintEvent(self, _) -> None:
        colouring = self.canvas.colouring
        if colouring is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("#d0d5dd"))
        painter.setBrush(QColor(255, 255, 255, 235))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        painter.setFont(self.canvas._fonts["legend"])
        if self.folded:
            painter.setPen(INK)
            painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, self.FOLDED)
            return
        if colouring.ramp is None:
            for row, (label, colour) in enumerate(colouring.legend):
                self._swatch(painter, 7 + row * 18, colour, label)
            return
        title, ticks = colouring.ramp
        painter.setPen(INK)
        painter.drawText(QRectF(10, 6, self.width() - 20, 16), Qt.AlignmentFlag.AlignLeft, title)
        bar = QRectF(10, 26, self.width() - 20, 10)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        stops = colouring.palette[1:]
        for k, colour in enumerate(stops):
            gradient.setColorAt(k / max(len(stops) - 1, 1), colour)
        painter.setPen(QColor("#b0b7c3"))
        painter.setBrush(QBrush(gradient))
        painter.drawRect(bar)
        painter.setPen(MUTED)
        for k, tick in enumerate(ticks):
            x = bar.left() + bar.width() * k / max(len(ticks) - 1, 1)
            align = Qt.AlignmentFlag.AlignLeft if k == 0 else Qt.AlignmentFlag.AlignRight if k == len(ticks) - 1 else Qt.AlignmentFlag.AlignHCenter
            left = x if k == 0 else x - TICK_WIDTH if k == len(ticks) - 1 else x - TICK_WIDTH / 2
            painter.drawText(QRectF(left, 37, TICK_WIDTH, 14), align, tick)
        self._swatch(painter, 54, colouring.palette[0], colouring.empty)

    def _swatch(self, painter: QPainter, y: float, colour: QColor, label: str) -> None:
        painter.setPen(BORDER)
        painter.setBrush(colour)
        painter.drawRoundedRect(QRectF(10, y + 2, 18, 12), 3, 3)
        painter.setPen(INK)
        painter.drawText(QRectF(34, y, self.width() - 40, 16), Qt.AlignmentFlag.AlignVCenter, label)


class _Minimap(QWidget):
    """The whole graph small, with the part in view framed; click or drag to move there."""

    SIZE = 200  # pixels along the graph's longer side

    def __init__(self, canvas: _Canvas):
        super().__init__(canvas)
        self.canvas = canvas
        self.setToolTip("Overview of the whole graph: the frame is what you see; click or drag to move there")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._pixmap = QPixmap()
        canvas.viewChanged.connect(self.update)
        self._soon = QTimer(self, singleShot=True, interval=0)
        self._soon.timeout.connect(self.render_map)

    def render_soon(self) -> None:
        """Draw the map on the next turn of the event loop, once however often asked: a big graph's
        map takes tens of ms, which the window should not add to showing the graph itself."""
        self._soon.start()

    def render_map(self) -> None:
        canvas = self.canvas
        if canvas._layout is None or canvas.colouring is None:
            return
        bounds = canvas.scene_bounds()
        self._scale = (self.SIZE - 8) / max(bounds.width(), bounds.height())
        self.resize(max(int(bounds.width() * self._scale) + 8, 40), max(int(bounds.height() * self._scale) + 8, 40))
        self._origin = QPointF(bounds.left() - (self.width() / self._scale - bounds.width()) / 2,
                               bounds.top() - (self.height() / self._scale - bounds.height()) / 2)
        self._pixmap = QPixmap(self.size())
        self._pixmap.fill(QColor(255, 255, 255, 235))
        painter = QPainter(self._pixmap)
        painter.setTransform(self._transform())
        index = canvas.colouring.index
        for entry in np.unique(index).tolist():
            pen = QPen(canvas._border[entry], 1)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(canvas.colouring.palette[entry])
            painter.drawRects([canvas._rects[i] for i in np.flatnonzero(index == entry).tolist()])
        painter.end()
        self.place()
        self.update()

    def _transform(self) -> QTransform:
        if self._soon.isActive():  # asked for before the map was drawn (a click in the same turn)
            self._soon.stop()
            self.render_map()
        s = self._scale
        return QTransform(s, 0, 0, s, -self._origin.x() * s, -self._origin.y() * s)

    def place(self) -> None:
        self.move(self.canvas.width() - self.width() - 10, self.canvas.height() - self.height() - 10)

    def paintEvent(self, _) -> None:
        if self._pixmap.isNull():  # not drawn yet (render_soon)
            return
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._pixmap)
        if self.canvas._layout is not None:
            frame = self._transform().mapRect(self.canvas.visible_scene())
            centre = frame.center()
            frame.setSize(frame.size().expandedTo(QRectF(0, 0, 6, 6).size()))
            frame.moveCenter(centre)
            painter.setPen(QPen(SELECTED, 1.5))
            painter.setBrush(QColor(28, 100, 242, 40))
            painter.drawRect(frame.intersected(QRectF(self.rect())))
        painter.setPen(QColor("#d0d5dd"))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5))

    def mousePressEvent(self, event) -> None:
        self._move_to(event.position())

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._move_to(event.position())

    def _move_to(self, pos: QPointF) -> None:
        self.canvas._centre_at(self._transform().inverted()[0].map(pos), self.canvas._scale)


# -- helpers --------------------------------------------------------------------------------------


def _within(value: float, low: float, high: float) -> float:
    """`value` moved into [low, high]; as it is when the range is empty (the graph fits that way)."""
    return value if high < low else min(max(value, low), high)


def _tool_button(text: str, tip: str, checkable: bool = False, checked: bool = False) -> QToolButton:
    button = QToolButton(text=text, toolTip=tip, checkable=checkable, checked=checked)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return button


def _fonts() -> dict[str, QFont]:
    fonts = {}
    for key, pixels, bold in [("type", 13, True), ("name", 12, False), ("detail", 11, False), ("legend", 11, False), ("message", 15, False)]:
        font = QFont()
        font.setPixelSize(pixels)
        font.setBold(bold)
        fonts[key] = font
    return fonts


def _texts(node: Node) -> tuple[str, str, str]:
    """Type, name and a detail line (output shape, or how to open a body)."""
    if isinstance(node, Block):
        detail = f"{_operations(node):,} operations"
    elif node.subgraphs:
        detail = "double-click to open"
    elif node.shape is not None:
        detail = "×".join(dims(node.shape)) if len(node.shape) else "scalar"
    else:
        detail = ""
    return node.type, node.name, detail


def _widths(texts: list[tuple[str, str, str]]) -> np.ndarray:
    fonts = _fonts()
    measures = {key: QFontMetricsF(fonts[key]) for key in ("type", "name", "detail")}
    cache: dict[tuple[str, str], float] = {}

    def width(key: str, text: str) -> float:
        if (key, text) not in cache:
            cache[(key, text)] = measures[key].horizontalAdvance(text)
        return cache[(key, text)]

    return np.array([min(max(width("type", t), width("name", n), width("detail", d)) + 20, 240) for t, n, d in texts]).clip(96)


def _crumb(node: Node, key: str) -> str:
    return node.name if len(node.subgraphs) == 1 else f"{node.name}: {key}"


def _path_to_layer(graph: Graph, layer: str) -> list[tuple[Node, str]] | None:
    """The (node, body) steps from graph down to the body holding a node of that layer."""
    for node in graph.nodes:
        for key, body in node.subgraphs.items():
            if any(n.layer == layer for n in body.nodes):
                return [(node, key)]
            deeper = _path_to_layer(body, layer)
            if deeper:
                return [(node, key)] + deeper
    return None


def _holds(node: Node, layer: str) -> bool:
    return any(n.layer == layer or _holds(n, layer) for body in node.subgraphs.values() for n in body.nodes)


def _weights(node: Node, stats: dict[str, WeightStats]) -> tuple[int, float]:
    """Parameters and the share of them that is zero: of the node's layer, or of all layers in a block."""
    layers = _layers_in(node, set()) if isinstance(node, Block) else {node.layer}
    found = [stats[name] for name in layers if name is not None and name in stats]
    parameters = sum(s.parameters for s in found)
    return parameters, sum(s.zeros for s in found) / parameters if parameters else 0.0


def _layers_in(node: Node, into: set) -> set:
    for body in node.subgraphs.values():
        for n in body.nodes:
            into.add(n.layer)
            _layers_in(n, into)
    return into


def _operations(block: Node) -> int:
    return sum(body.node_count() for body in block.subgraphs.values())


def _matches(node: Node, query: str) -> bool:
    """Whether the node's name or type contains the (lower-case) query, or a node inside it does."""
    return (query in node.name.lower() or query in node.type.lower()
            or any(_matches(n, query) for body in node.subgraphs.values() for n in body.nodes))


def _time_of(node: Node, times: dict[str, float]) -> float | None:
    """A box's measured ms: its own, or a block's, the sum of the timed nodes inside it; None: not timed."""
    if node.name in times or not isinstance(node, Block):
        return times.get(node.name)
    inner = [_time_of(n, times) for body in node.subgraphs.values() for n in body.nodes]
    inner = [ms for ms in inner if ms is not None]
    return sum(inner) if inner else None


def _category(node: Node) -> tuple[str, str]:
    if isinstance(node, Block):
        return BLOCK
    kind = node.type.lower()
    if node.subgraphs or kind.split("::")[-1] in ("if", "loop", "scan"):
        return CONTROL_FLOW
    if kind in ("input", "output"):
        return INPUT_OUTPUT
    return next(((label, fill) for label, fill, words in CATEGORIES if any(w in kind for w in words)), OTHER)


def _colouring(graph: Graph, stats: dict[str, WeightStats], mode: str) -> Colouring:
    if mode == "type":
        categories = [_category(n) for n in graph.nodes]
        shown = sorted(set(categories), key=lambda c: [c[0] for c in categories].index(c[0]))
        palette = [QColor(fill) for _, fill in shown]
        index = np.array([shown.index(c) for c in categories], dtype=int)
        return Colouring(index, palette, [(label, QColor(fill)) for label, fill in shown])
    values = np.full(len(graph.nodes), np.nan)
    for i, node in enumerate(graph.nodes):
        parameters, sparsity = _weights(node, stats)
        if parameters:
            values[i] = math.log10(parameters) if mode == "parameters" else sparsity
    if mode == "parameters":
        known = values[~np.isnan(values)]
        lo, hi = (float(known.min()), float(known.max())) if len(known) else (0.0, 1.0)
        hi = max(hi, lo + 1e-9)
        ticks = [_count(10**lo), _count(10 ** ((lo + hi) / 2)), _count(10**hi)]
        title = "Parameters in the layer (log scale)"
    else:
        lo, hi = 0.0, 1.0
        ticks = ["0 %", "50 %", "100 %"]
        title = "Weights that are zero (sparsity)"
    ramp = _ramp(RAMPS[mode])
    step = np.clip(np.round((values - lo) / (hi - lo) * (RAMP_STEPS - 1)), 0, RAMP_STEPS - 1)
    index = np.where(np.isnan(values), 0, np.nan_to_num(step) + 1).astype(int)
    return Colouring(index, [NO_WEIGHTS] + ramp, [], (title, ticks))


def _time_colouring(graph: Graph, times: dict[str, float], total: float, label: str) -> Colouring:
    """Boxes by their measured ms, on a linear scale from 0 to the slowest box; ticks in ms and share."""
    values = np.array([np.nan if (ms := _time_of(n, times)) is None else ms for n in graph.nodes], dtype=float)
    known = values[~np.isnan(values)]
    hi = max(float(known.max()) if len(known) else 0.0, 1e-9)
    share = (lambda ms: f" ({ms / total:.0%})") if total > 0 else (lambda ms: "")
    ticks = ["0 ms", f"{hi / 2:.3g} ms{share(hi / 2)}", f"{hi:.3g} ms{share(hi)}"]
    step = np.clip(np.round(values / hi * (RAMP_STEPS - 1)), 0, RAMP_STEPS - 1)
    index = np.where(np.isnan(values), 0, np.nan_to_num(step) + 1).astype(int)
    return Colouring(index, [NO_WEIGHTS] + _ramp(RAMPS["time"]), [], (f"Measured time per run in {label} (share of all nodes)", ticks),
                     "Not timed apart (fused, or no node)")


def _ramp(stops: tuple[str, ...]) -> list[QColor]:
    rgb = np.array([QColor(c).getRgbF()[:3] for c in stops])
    t = np.linspace(0, len(stops) - 1, RAMP_STEPS)
    channels = [np.interp(t, np.arange(len(stops)), rgb[:, k]) for k in range(3)]
    return [QColor.fromRgbF(r, g, b) for r, g, b in zip(*channels)]


def _light(colour: QColor) -> bool:
    return 0.2126 * colour.redF() + 0.7152 * colour.greenF() + 0.0722 * colour.blueF() > 0.5


def _count(n: float) -> str:
    for unit, size in [("G", 1e9), ("M", 1e6), ("K", 1e3)]:
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g}"


def _edge_chunks(graph: Graph, layout: Layout) -> list[tuple[QRectF, QPainterPath, QPainterPath]]:
    """Edges as cached curve and arrowhead paths, in bands from top to bottom, each with its bounds."""
    seen, lines = set(), []
    for edge, line in zip(graph.edges, layout.edges):
        if len(line) >= 2 and (edge.src, edge.dst) not in seen:
            seen.add((edge.src, edge.dst))
            lines.append(line)
    lines.sort(key=lambda line: min(line[0, 1], line[-1, 1]))
    chunks = []
    for start in range(0, len(lines), EDGE_CHUNK):
        band = lines[start:start + EDGE_CHUNK]
        curves, arrows = QPainterPath(), QPainterPath()
        for line in band:
            points = line.tolist()
            curves.moveTo(*points[0])
            for (x0, y0), (x1, y1) in zip(points, points[1:]):
                if x0 == x1:
                    curves.lineTo(x1, y1)
                else:
                    mid = (y0 + y1) / 2
                    curves.cubicTo(x0, mid, x1, mid, x1, y1)
            tx, ty = points[-1]
            d = 1.0 if ty >= points[-2][1] else -1.0
            arrows.moveTo(tx, ty)
            arrows.lineTo(tx - 4.5, ty - 8 * d)
            arrows.lineTo(tx + 4.5, ty - 8 * d)
            arrows.closeSubpath()
        every = np.concatenate(band)
        low, high = every.min(axis=0), every.max(axis=0)
        chunks.append((QRectF(low[0] - 5, low[1] - 10, high[0] - low[0] + 10, high[1] - low[1] + 20), curves, arrows))
    return chunks
