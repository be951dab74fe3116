"""A form for an operation's options, built from its core fields (studio/core/project/steps.py OPS): the field
gives the type, range, choices, default and help; the row gives the plain-language label and unit, and the
glossary words a "?" at its end explains; the form's tips (glossary.FIELD_TIPS) say what each does."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QSlider, QSpinBox, QWidget

from studio.gui.common.help_button import help_button

if TYPE_CHECKING:
    from studio.core.project.schema import Field


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str = ""  # shown after the number, e.g. " epochs"
    percent: bool = False  # a 0–1 share shown as 0–100 %
    choices: dict = field(default_factory=dict)  # value → plain label
    decimals: int = 2
    default: object = None  # instead of the field's default
    optional: bool = False  # a checkbox turns the option on; off means None
    slider: bool = False  # a slider beside the number
    terms: tuple[str, ...] = ()  # glossary words a "?" at the row's end explains


class OptionForm(QWidget):
    def __init__(self, fields: dict[str, Field], rows: list[Row], parent: QWidget | None = None, tips: dict[str, str] | None = None):
        """`tips`: what each setting does, in words for the user (by key); the field's help where none is given."""
        super().__init__(parent)
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow sheet puts labels above
        self.rows = {row.key: row for row in rows}
        self.widgets: dict[str, QWidget] = {}
        self.switches: dict[str, QCheckBox] = {}
        for row in rows:
            f = fields[row.key]
            widget = _widget(f, row)
            widget.setToolTip(_tip(f, row, (tips or {}).get(row.key, "")))
            self.widgets[row.key] = widget
            self.set_value(row.key, row.default if row.default is not None else f.default)
            box = QHBoxLayout()
            if row.optional:
                switch = QCheckBox()
                switch.setToolTip(f"Turn on: {row.label.lower()}")
                switch.toggled.connect(widget.setEnabled)
                widget.setEnabled(False)
                self.switches[row.key] = switch
                box.addWidget(switch)
            if row.slider:
                box.addWidget(slider_for(widget), 1)
            box.addWidget(widget, 0 if row.slider else 1)
            if row.terms:
                box.addWidget(help_button(*row.terms))
            self.layout_.addRow(row.label + ":", box)

    def value(self, key: str):
        row, widget = self.rows[key], self.widgets[key]
        if key in self.switches and not self.switches[key].isChecked():
            return None
        if isinstance(widget, QComboBox):
            return widget.currentData()
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        value = widget.value()
        return round(value / 100, 6) if row.percent else value

    def values(self) -> dict:
        return {key: self.value(key) for key in self.rows}

    def set_value(self, key: str, value) -> None:
        row, widget = self.rows[key], self.widgets[key]
        if key in self.switches:
            self.switches[key].setChecked(value is not None)
        if value is None:
            return
        if isinstance(widget, QComboBox):
            widget.setCurrentIndex(max(0, widget.findData(value)))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        else:
            widget.setValue(value * 100 if row.percent else value)

    def show_row(self, key: str, visible: bool) -> None:
        self.layout_.setRowVisible(list(self.rows).index(key), visible)


def slider_for(spin: QSpinBox | QDoubleSpinBox, steps: int = 10) -> QSlider:
    """A slider that moves with the spin box (`steps` slider positions per unit of the spin box)."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(round(spin.minimum() * steps), round(spin.maximum() * steps))
    slider.setValue(round(spin.value() * steps))
    slider.setToolTip(spin.toolTip())
    slider.valueChanged.connect(lambda v: spin.setValue(v / steps) if isinstance(spin, QDoubleSpinBox) else spin.setValue(v // steps))
    spin.valueChanged.connect(lambda v: slider.setValue(round(v * steps)))
    return slider


def _widget(f: Field, row: Row) -> QWidget:
    if f.choices is not None:
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(10)
        for value in f.choices:
            combo.addItem(row.choices.get(value, str(value)), value)
        return combo
    if f.kind is bool:
        return QCheckBox()
    scale = 100 if row.percent else 1
    spin = QSpinBox() if f.kind is int else QDoubleSpinBox()
    if isinstance(spin, QDoubleSpinBox):
        spin.setDecimals(row.decimals)
        spin.setSingleStep(10 ** -row.decimals if row.decimals > 2 else 1)
        spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
    low = f.low if f.low is not None else 0
    high = f.high if f.high is not None else 1_000_000
    spin.setRange(low * scale, high * scale)
    spin.setSuffix(" %" if row.percent else row.unit)
    if row.unit.endswith("s") and isinstance(spin, QSpinBox):  # 1 epoch, 2 epochs
        def count(value: int) -> None:
            spin.setSuffix(singular(row.unit) if value == 1 else row.unit)

        spin.valueChanged.connect(count)
        count(spin.value())
    spin.setKeyboardTracking(False)
    return spin


def singular(unit: str) -> str:
    """" epochs" → " epoch", " most sensitive layers" → " most sensitive layer"."""
    return unit[:-1]


def _tip(f: Field, row: Row, tip: str = "") -> str:
    """The label, what the setting does (`tip`, else the field's help) and its range; a long tip as rich
    text, which a tooltip wraps (plain text stays one line as wide as the screen)."""
    text = row.label
    if tip or f.help:
        text += f": {tip or f.help}"
    if f.low is not None and f.high is not None:
        scale, unit = (100, " %") if row.percent else (1, row.unit)
        text += f" ({f.low * scale:g} to {f.high * scale:g}{unit})"
    return f"<qt>{escape(text)}</qt>" if tip else text
