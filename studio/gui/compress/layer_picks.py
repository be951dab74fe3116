"""A table of the weighted layers with a checkbox each (prune it, keep it float) and, where asked, an
editable share per layer (a per-layer sparsity)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from studio.core.errors import StudioError

EDITABLE = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable


class LayerPicks(QTableWidget):
    def __init__(self, check: tuple[str, str, bool], value: tuple[str, str] | None = None, parent=None):
        """check: (header, tooltip, checked at first); value: (header, tooltip) of an editable % column."""
        self._check, self._value = check, value
        headers = [check[0], "Layer", "Weights"] + ([value[0]] if value else [])
        super().__init__(0, len(headers), parent)
        self.setHorizontalHeaderLabels(headers)
        tips = [check[1], "The layer's name in the model", "Weights in its matrices or kernels"] + ([value[1]] if value else [])
        for i, tip in enumerate(tips):
            self.horizontalHeaderItem(i).setToolTip(tip)
        self.setToolTip(check[1])
        self.verticalHeader().hide()
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setMinimumHeight(110)
        # one line a layer, a long name cut at its start: names nested in a graph share their beginning
        # (an If's branch) and differ at the end; the tooltip has it whole
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideLeft)

    def set_layers(self, layers: list[tuple[str, str, int]]) -> None:
        """layers: (name, type, weights)."""
        self.setRowCount(0)
        for name, kind, weights in layers:
            row = self.rowCount()
            self.insertRow(row)
            box = QTableWidgetItem()
            box.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            box.setCheckState(Qt.CheckState.Checked if self._check[2] else Qt.CheckState.Unchecked)
            box.setToolTip(self._check[1])
            self.setItem(row, 0, box)
            label = QTableWidgetItem(name)
            label.setFlags(Qt.ItemFlag.ItemIsEnabled)
            label.setToolTip(f"{name} ({kind})")
            self.setItem(row, 1, label)
            count = QTableWidgetItem(f"{weights:,}")
            count.setFlags(Qt.ItemFlag.ItemIsEnabled)
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, 2, count)
            if self._value:
                value = QTableWidgetItem("")
                value.setFlags(EDITABLE)
                value.setToolTip(self._value[1])
                value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, 3, value)

    def names(self) -> list[str]:
        return [self.item(r, 1).text() for r in range(self.rowCount())]

    def checked(self) -> list[str]:
        return [self.item(r, 1).text() for r in range(self.rowCount()) if self.item(r, 0).checkState() == Qt.CheckState.Checked]

    def unchecked(self) -> list[str]:
        return [name for name in self.names() if name not in self.checked()]

    def set_checked(self, name: str, checked: bool) -> None:
        self.item(self.names().index(name), 0).setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def shares(self) -> dict[str, float]:
        """The per-layer shares typed in (0–1) of the checked layers; blank cells take the target."""
        out = {}
        for r in range(self.rowCount()):
            text = self.item(r, 3).text().strip().rstrip("%").strip()
            if text and self.item(r, 0).checkState() == Qt.CheckState.Checked:
                name = self.item(r, 1).text()
                try:
                    share = float(text) / 100
                except ValueError:
                    share = -1.0
                if not 0 <= share < 1:
                    raise StudioError(f"the sparsity of {name}, {text!r}, is not a percentage from 0 to 99.9")
                out[name] = share
        return out

    def set_shares(self, shares: dict[str, float]) -> None:
        for r, name in enumerate(self.names()):
            self.item(r, 3).setText(f"{100 * shares[name]:.1f}" if name in shares else "")
