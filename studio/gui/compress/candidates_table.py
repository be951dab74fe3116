"""The candidates of a goal-driven search, one row each as it finishes: its recipe in words and whether it
meets the goal, misses it (and by what), failed (and why) or was stopped by the budget; its size, latency and
accuracy (or agreement) measured in ONNX Runtime. Two lines a row, so that a narrow dock shows every column.
The best so far is in bold."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from studio.gui.common import metric_text

if TYPE_CHECKING:
    from studio.core.project.auto_result import Candidate

COLUMNS = ("Candidate", "Size · latency", "Accuracy")  # two lines each: a narrow dock shows them whole
STATUS = {"met": "meets the goal", "missed": "misses", "failed": "failed", "stopped": "over budget"}
TINTS = {"met": "#e3f3e6", "failed": "#fbe3e3", "stopped": "#eceef0"}  # the rows' backgrounds: missed ones stay white
MIN_ROWS = 3  # rows in view before the table scrolls


class CandidatesTable(QTableWidget):
    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(2 * self.fontMetrics().lineSpacing() + 8)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.setMinimumHeight(header.sizeHint().height() + MIN_ROWS * self.verticalHeader().defaultSectionSize() + 4)
        self.setToolTip("Every candidate the search tried, as it finished, measured as an ONNX file in ONNX Runtime: "
                        "green meets the goal, red failed, grey ran out of time. Bold: the best so far. "
                        "Hover a row for all its numbers.")
        self.best: int | None = None
        self.size_key = "zip_bytes"

    def start(self, metric: str, size_key: str) -> None:
        """A new search: no rows; quality is `metric` (accuracy or agreement), size counts `size_key`."""
        self.setRowCount(0)
        self.best = None
        self.size_key = size_key
        self.setHorizontalHeaderItem(2, QTableWidgetItem(metric.capitalize()))

    def add(self, c: Candidate) -> None:
        m = c.metrics
        row = self.rowCount()
        self.insertRow(row)
        cells = [f"{c.name}\n{_status(c)}", f"{_size(m, self.size_key)}\n{_latency(m)}", _quality(m)]
        tip = _tooltip(c)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            if column:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if c.status in TINTS and c.index:
                item.setBackground(QBrush(QColor(TINTS[c.status])))
                item.setForeground(QBrush(QColor("#000000")))  # dark text on the light tint, whatever the theme
            self.setItem(row, column, item)
        self.scrollToBottom()

    def mark_best(self, row: int) -> None:
        if row == self.best:
            return
        for r in (self.best, row):
            if r is None or r >= self.rowCount():
                continue
            for column in range(self.columnCount()):
                font = self.item(r, column).font()
                font.setBold(r == row)
                self.item(r, column).setFont(font)
        self.best = row


def _size(m: dict, key: str) -> str:
    if key not in m:
        return "—"
    return f"{metric_text.human_bytes(m[key])} ({_times(m['smaller'])})" if "smaller" in m else metric_text.human_bytes(m[key])


def _latency(m: dict) -> str:
    if m.get("latency_ms") is None:
        return "—"
    speedup = f" ({_times(m['speedup'])})" if m.get("speedup") is not None else ""
    return f"{m['latency_ms']:.2g} ms{speedup}"


def _times(factor: float) -> str:
    return f"{factor:.0f}×" if factor >= 10 else f"{factor:.1f}×" if factor >= 1 else f"{factor:.2f}×"


def _quality(m: dict) -> str:
    score = metric_text.score(m)
    if score is None:
        return "—"
    drop = f"\n−{m['drop']:.1f} pt" if m.get("drop") else ""
    return f"{100 * score[1]:.1f} %{drop}"


def _status(c: Candidate) -> str:
    text = STATUS.get(c.status, c.status)
    if c.index == 0:
        return "where it starts"
    return f"{text}: {c.reason}" if c.reason and c.status != "met" else text


def _tooltip(c: Candidate) -> str:
    from studio.core.project.auto_goal import candidate_line

    line = candidate_line(c.index, c.name, c.metrics, STATUS.get(c.status, c.status), c.reason).strip()
    m = c.metrics
    sizes = [f"{metric_text.human_bytes(m[k])} {w}" for k, w in (("size_bytes", "as stored"), ("zip_bytes", "zipped")) if k in m]
    more = [", ".join(sizes)] if sizes else []
    if m.get("latency_ms") is not None:
        more.append(f"{m['latency_ms']:.3g} ms at batch {m.get('batch', 1)} in ONNX Runtime"
                    + (f" (the start: {m['source_latency_ms']:.3g} ms)" if m.get("source_latency_ms") else ""))
    if m.get("epochs"):
        more.append(f"{m['epochs']} epochs of training")
    return "\n".join([line, *more, f"took {c.seconds:.1f} s"])
