"""The layers of a model as a sortable, filterable table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from studio.gui.common.placeholder import placeholder_in

if TYPE_CHECKING:
    from studio.core.inspect.layers import Layer
    from studio.core.inspect.stats import WeightStats

SORT_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = [  # header, tooltip
    ("Layer", "The layer's name in the model"),
    ("Type", "What kind of layer it is (Conv2d, Linear, Gemm, …)"),
    ("Shape", "Shape of the layer's main weight, e.g. [outputs, inputs, kernel height, kernel width]"),
    ("Parameters", "Number of weights in the layer, biases included"),
    ("Size", "Memory the layer's weights take (bytes, by their data type)"),
    ("Zeros (%)", "Share of the layer's weights that are exactly zero"),
    ("Time", "Measured time of the layer per run in ONNX Runtime, and its share of all nodes' time (the layer's "
             "fused activation included); blank until the version is profiled (Profile in the Time tab)"),
]
TIME = len(COLUMNS) - 1


class LayerTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[tuple[Layer, WeightStats]] = []
        self._times: dict[str, float] = {}  # ms by layer, from the profile of the version shown
        self._total = 0.0

    def set_layers(self, layers: list[Layer], stats: dict[str, WeightStats]) -> None:
        self.beginResetModel()
        self._rows = [(layer, stats[layer.name]) for layer in layers]
        self._times, self._total = {}, 0.0  # a profile belongs to the version it measured
        self.endResetModel()

    def set_times(self, times: dict[str, float], total: float) -> None:
        """The measured ms of each layer, of `total` ms of all nodes; {} clears the column."""
        self._times, self._total = times, total
        if self._rows:
            self.dataChanged.emit(self.index(0, TIME), self.index(len(self._rows) - 1, TIME))

    def row_of(self, name: str) -> int | None:
        return next((i for i, (layer, _) in enumerate(self._rows) if layer.name == name), None)

    def name_at(self, row: int) -> str:
        return self._rows[row][0].name

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][1]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        layer, s = self._rows[index.row()]
        column = index.column()
        if column == TIME:
            return self._time(layer.name, role)
        if role == SORT_ROLE:
            return (layer.name, layer.type, s.parameters, s.parameters, s.bytes, s.sparsity)[column]
        if role == Qt.ItemDataRole.DisplayRole:
            from studio.core.inspect.summary import human_bytes  # core is loaded once there are rows

            shape = "[" + ", ".join(map(str, layer.shape)) + "]"
            return (layer.name, layer.type, shape, f"{s.parameters:,}", human_bytes(s.bytes), f"{s.sparsity:.1%}")[column]
        if role == Qt.ItemDataRole.TextAlignmentRole and column >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{layer.name}: " + ", ".join(f"{k} {tuple(w.shape)} {w.dtype}" for k, w in layer.weights.items())
        return None

    def _time(self, name: str, role):
        ms = self._times.get(name)
        if role == SORT_ROLE:
            return -1.0 if ms is None else ms
        if role == Qt.ItemDataRole.DisplayRole:
            return "" if ms is None else f"{ms:.3g} ms ({ms / self._total:.0%})" if self._total > 0 else f"{ms:.3g} ms"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (COLUMNS[TIME][1] if ms is None and not self._times else
                    f"{name}: not timed apart (no node of its own ran, or it was fused into another layer)" if ms is None else
                    f"{name}: {ms:.3g} ms per run, {ms / max(self._total, 1e-12):.1%} of all nodes' time")
        return None


class LayerTable(QWidget):
    layerSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = LayerTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by name or type, e.g. conv")
        self.filter.setToolTip("Show only the layers whose name, type or shape contains this text")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # model order until a header is clicked
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setToolTip("Click a layer to select it everywhere; click a column header to sort")
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self._quiet = False

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter)
        layout.addWidget(self.view, 1)
        self._placeholder = placeholder_in(self, content)

    def show_layers(self, layers: list[Layer], stats: dict[str, WeightStats]) -> None:
        self.model.set_layers(layers, stats)
        self.view.resizeColumnsToContents()
        self._placeholder.show_content()

    def show_times(self, times: dict[str, float], total: float) -> None:
        """The Time column: ms per layer of the profiled version shown ({}: blank)."""
        self.model.set_times(times, total)
        if times:
            self.view.resizeColumnToContents(TIME)

    def clear(self) -> None:
        self.model.set_layers([], {})
        self._placeholder.show_message()

    def select_layer(self, name: str | None) -> None:
        """Make the layer's row current (and visible); emits nothing."""
        row = self.model.row_of(name) if name else None
        index = self.proxy.mapFromSource(self.model.index(row, 0)) if row is not None else QModelIndex()
        self._quiet = True
        try:
            if index.isValid():
                self.view.setCurrentIndex(index)
                self.view.scrollTo(index)
            else:
                self.view.clearSelection()
                self.view.setCurrentIndex(QModelIndex())
        finally:
            self._quiet = False

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._quiet and current.isValid():
            self.layerSelected.emit(self.model.name_at(self.proxy.mapToSource(current).row()))
