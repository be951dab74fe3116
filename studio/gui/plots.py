"""pyqtgraph plots styled like the rest of the window: the palette's colours, no expert menus."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

ZERO = QColor("#e8590c")  # exact zeros, wherever they are drawn
VALUES = QColor("#4a7ab5")  # ordinary weights
OVERLAY = QColor("#2b8a3e")  # a second histogram drawn over the first (before/after)
SELECTED = QColor("#1c3f6e")


def plot_widget(parent: QWidget | None = None, x_label: str = "", y_label: str = "") -> pg.PlotWidget:
    palette = QApplication.palette()
    plot = pg.PlotWidget(parent, background=palette.color(QPalette.ColorRole.Base))
    text = palette.color(QPalette.ColorRole.Text)
    for side, label in (("bottom", x_label), ("left", y_label)):
        axis = plot.getAxis(side)
        axis.setPen(text)
        axis.setTextPen(text)
        axis.enableAutoSIPrefix(False)  # "(x0.001)" beside a label reads as a unit to most people
        plot.setLabel(side, label)
    plot.setMenuEnabled(False)  # pyqtgraph's menu is for programmers (export, transforms)
    menu = plot.plotItem.ctrlMenu  # parentless: it would outlive the plot as a top-level widget
    menu.setParent(plot, menu.windowFlags())
    plot.hideButtons()
    return plot


def swatch(color: QColor, text: str) -> str:
    """Rich text: a coloured square, then text; a legend that never covers the data."""
    return f'<span style="color:{color.name()}">■</span>&nbsp;{text}'
