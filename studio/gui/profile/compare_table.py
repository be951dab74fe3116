"""Two versions' time compared, in the Time tab: the sentence that sums it up over a table of the layers
by change, most gained first (ms per profiled run before and after, the change, how many times faster
or slower); faster rows green, slower ones red, nodes of one version only grey at the bottom. Clicking a row selects
its layer (in the version shown)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from studio.core.evaluate.profile_compare import Comparison, LayerChange

COLUMNS = ("Layer", "Before ms", "After ms", "Change ms", "Speed")
TIPS = ("The layer (its nodes in each version, with what ONNX Runtime ran, in the tooltip)",
        "Milliseconds per profiled run in the version compared against, the profiler's cost per node taken off",
        "Milliseconds per profiled run in the newer version, the profiler's cost per node taken off",
        "After − before: negative is faster", "How many times faster or slower; 'same' within what profiling varies")
FASTER, SLOWER, ONLY = QColor("#d3f9d8"), QColor("#ffe3e3"), QColor("#f1f3f5")  # light fills: dark text stays readable
TEXT, GREY = QColor("#212529"), QColor("#495057")
NUMBER = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class ComparisonView(QWidget):
    layerClicked = Signal(object)  # the LayerChange of the row clicked

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.sentence = QLabel()
        self.sentence.setWordWrap(True)
        self.sentence.setTextFormat(Qt.TextFormat.RichText)  # escaped text
        self.sentence.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for i, tip in enumerate(TIPS):
            self.table.horizontalHeaderItem(i).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in range(1, len(COLUMNS)):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Each layer's time in the two versions, most gained first; click a row to select its layer")
        self.table.itemClicked.connect(lambda item: self.layerClicked.emit(self._rows[item.row()]))
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.sentence)
        column.addWidget(self.table, 1)
        self.comparison: Comparison | None = None
        self._rows: list[LayerChange] = []

    def show_message(self, text: str) -> None:
        """No table: what to do, or what is under way."""
        self.comparison, self._rows = None, []
        self.sentence.setText(escape(text))
        self.table.setRowCount(0)
        self.table.hide()

    def show_comparison(self, c: Comparison, note: str = "") -> None:
        from studio.core.evaluate.profile_compare_text import ratio, signed

        self.comparison = c
        self.sentence.setText(escape(c.summary()) + (f" <i>{escape(note)}</i>" if note else ""))
        rows = [(r, c.verdict(r)) for r in c.layers] + [(r, None) for r in (*c.only_before, *c.only_after)]
        self._rows = [r for r, _ in rows]
        self.table.setRowCount(len(rows))
        for i, (r, verdict) in enumerate(rows):
            if verdict is None:
                change, speed = (signed(r.change_ms), f"only in {c.after if r.before_ms is None else c.before}")
            else:
                change, speed = signed(r.change_ms), ratio(r.speedup) if verdict else "same"
            cells = [QTableWidgetItem(text) for text in (r.name, _ms(r.before_ms), _ms(r.after_ms), change, speed)]
            fill = ONLY if verdict is None else FASTER if verdict < 0 else SLOWER if verdict > 0 else None
            for j, cell in enumerate(cells):
                if j:
                    cell.setTextAlignment(NUMBER if j < 4 else Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                if fill is not None:
                    cell.setBackground(QBrush(fill))
                    cell.setForeground(QBrush(GREY if verdict is None else TEXT))
                cell.setToolTip(_tip(r, c))
                self.table.setItem(i, j, cell)
        self.table.show()

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (for tests and a quick look)."""
        return [tuple(self.table.item(i, j).text() for j in range(self.table.columnCount())) for i in range(self.table.rowCount())]


def _ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    return f"{ms:.2g}" if ms < 0.01 else f"{ms:.3g}"


def _tip(r: LayerChange, c: Comparison) -> str:
    lines = [r.name]
    for label, nodes, ops in ((c.before, r.before_nodes, r.before_ops), (c.after, r.after_nodes, r.after_ops)):
        if nodes:
            shown = ", ".join(nodes[:4]) + (f" +{len(nodes) - 4}" if len(nodes) > 4 else "")
            lines.append(f"{label}: {shown} ({', '.join(ops)})")
    return "\n".join(lines)
