"""The Model dock: what was opened, what it allows (and why not), and how all its weights are spread."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from studio.gui.common.metric_text import hidden_axes, shape_text
from studio.gui.common.placeholder import placeholder_in
from studio.gui.common.value_form import ValueForm
from studio.gui.common.widgets import column_scroll
from studio.gui.inspect.histogram_view import HistogramView

REFUSED = "#c92a2a"
EMPTY = "The open model's format, inputs, size and what can be done with it will show here."

if TYPE_CHECKING:
    from studio.core.formats.model import TensorSpec
    from studio.core.project.analysis import ModelInfo

FIELDS = [  # label, tooltip
    ("Model", "The file or sample that was opened"),
    ("Format", "How the model is stored; it decides which operations are possible"),
    ("Inputs", "Name, shape and data type of each input (? or a name: any size)"),
    ("Outputs", "Name, shape and data type of each output"),
    ("Parameters", "All weights of the model, and how many are exactly zero"),
    ("Size", "The model file's size on disk; for a version made here, its weights as stored and zipped"),
    ("Operations", "What the studio can do with this model; for each refused one, why"),
]


TIPS = dict(FIELDS)


class ModelPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.details = ValueForm(FIELDS)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.histogram = HistogramView("")
        facts = QWidget()  # in a narrow dock the reasons wrap over many lines: they scroll, never clip
        column = QVBoxLayout(facts)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.details)
        column.addWidget(self.notes)
        column.addStretch(1)
        scroll = column_scroll(facts)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(scroll)
        split.addWidget(self.histogram)
        split.setSizes([330, 270])
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(split)
        self._placeholder = placeholder_in(self, content, EMPTY)

    def show_model(self, info: ModelInfo, size: str | None = None) -> None:
        """`size`: a version's size in words (its Model carries the size on disk of the file it came from)."""
        from studio.core.formats.model import OPERATIONS
        from studio.core.inspect.summary import human_bytes

        model, total = info.model, info.total
        operations = []
        for op, cap in model.capabilities().items():
            if op == "inspect":
                continue  # always possible: it is what this panel does
            reason = f" — <i>{escape(cap.reason)}</i>" if cap.reason else ""
            mark = "✓" if cap.allowed else f'<span style="color:{REFUSED}">✗</span>'
            operations.append(f"{mark} {escape(OPERATIONS[op])}{reason}")
        inputs = getattr(model.origin, "inputs", None) or model.inputs  # a converted version: its file's layout, which it exports
        self.details.set_texts({
            "Model": escape(model.source),
            "Format": escape(model.format.label),
            "Inputs": _specs(inputs),
            "Outputs": _specs(model.outputs),
            "Parameters": f"{total.parameters:,} ({total.zeros:,} exactly zero, {total.sparsity:.1%})",
            "Size": escape(size or f"{human_bytes(model.size_bytes)} on disk"),
            "Operations": "<br>".join(operations),
        })
        for label, specs in (("Inputs", inputs), ("Outputs", model.outputs)):  # a formula shown as ?, in full
            spelled = [f"{s.name}: {', '.join(hidden_axes(s.shape))}" for s in specs if hidden_axes(s.shape)]
            self.details.values[label].setToolTip("\n".join([TIPS[label], *spelled]))
        from studio.core.inspect.summary import notes as model_notes

        notes = model_notes(model, total, info.graph)
        self.notes.setText("<br>".join(f"<i>Note: {escape(n)}</i>" for n in notes))
        self.notes.setVisible(bool(notes))
        if info.histogram is not None:
            self.histogram.show_histogram(info.histogram, total, "Weights of the whole model")
        self._placeholder.show_content()

    def clear(self) -> None:
        self._placeholder.show_message(EMPTY)


def _specs(specs: list[TensorSpec]) -> str:
    if not specs:
        return "unknown"
    return "<br>".join(
        f"{escape(s.name)} {shape_text(s.shape)} {s.dtype}" if s.shape is not None
        else f"{escape(s.name)} (shape unknown) {s.dtype}"
        for s in specs
    )
