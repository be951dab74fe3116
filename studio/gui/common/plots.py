"""pyqtgraph plots styled like the rest of the window: the palette's colours, no expert menus."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

ZERO = QColor("#e8590c")  # exact zeros, wherever they are drawn
VALUES = QColor("#4a7ab5")  # ordinary weights
OVERLAY = QColor("#2b8a3e")  # a second histogram drawn over the first (before/after)
SELECTED = QColor("#1c3f6e")


def plot_widget(parent: QWidget | None = None, x_label: str = "", y_label: str = "", axes: dict | None = None) -> pg.PlotWidget:
    """axes: AxisItems of our own by side, e.g. {"bottom": BytesAxis("bottom")}."""
    palette = QApplication.palette()
    plot = pg.PlotWidget(parent, background=palette.color(QPalette.ColorRole.Base), axisItems=axes)
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


def fit(plot: pg.PlotWidget, xs: list[float] | None, ys: list[float] | None, padding: float = 0.08) -> None:
    """Set a chart's ranges to its data now (None: leave that axis). pyqtgraph's auto-range runs inside
    the paint and changes the view, which then paints again, several times in one pass of the event loop."""
    box = plot.getViewBox()
    for axis, values in ((box.XAxis, xs), (box.YAxis, ys)):
        if values is None:
            continue
        box.enableAutoRange(axis, False)
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if low == high:
            low, high = low - (abs(low) or 1) * 0.05, high + (abs(high) or 1) * 0.05
        (box.setXRange if axis == box.XAxis else box.setYRange)(low, high, padding=padding)


def swatch(color: QColor, text: str) -> str:
    """Rich text: a coloured square, then text; a legend that never covers the data."""
    return f'<span style="color:{color.name()}">■</span>&nbsp;{text}'


class BytesAxis(pg.AxisItem):
    """A log-scale axis of sizes: ticks at 1, 2 and 5 × 10^k labelled "200 KB", "1.0 MB" (or of times in
    milliseconds, "0.2 ms", when its unit is "ms")."""

    unit = "bytes"

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        ticks = []
        for steps in ((1,), (1, 2, 5), range(1, 10)):
            values = [math.log10(m) + k for k in range(math.floor(minVal), math.ceil(maxVal) + 1) for m in steps]
            values = [v for v in values if minVal <= v <= maxVal]
            if len(values) * 80 > size:  # labels would overlap
                break
            ticks = values
            if len(values) >= 3:
                break
        if len(ticks) < 2:  # a narrow range between round sizes: its ends and middle
            ticks = [minVal + (maxVal - minVal) * f for f in (0.1, 0.5, 0.9)]
        return [(None, ticks)]

    def logTickStrings(self, values, scale, spacing):
        if self.unit == "ms":
            return [f"{float(f'{10**v:.2g}'):g} ms" for v in values]
        return [short_bytes(10**v) for v in values]


def short_bytes(n: float) -> str:
    """A size in two significant digits: 200 KB, 1.5 MB."""
    for unit in ("B", "KB", "MB", "GB"):
        rounded = float(f"{n:.2g}")
        if rounded < 1000 or unit == "GB":
            return f"{rounded:g} {unit}"
        n /= 1000
    return ""
