"""A zoomable map of one weight matrix: exact zeros in black, other values on a blue–white–red scale."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.gui.common.placeholder import placeholder_in
from studio.gui.common.plots import plot_widget
from studio.gui.run.worker import JobRunner

ZERO_RGBA = (0, 0, 0, 255)
# index 0 of each table is "exactly zero"; the other 255 entries carry the scale
VALUE_LUT = np.vstack([ZERO_RGBA, pg.ColorMap([0, 0.5, 1], [(33, 102, 172), (247, 247, 247), (178, 24, 43)]).getLookupTable(nPts=255, alpha=True)]).astype(np.ubyte)
SHARE_LUT = np.vstack([pg.ColorMap([0, 1], [(250, 250, 250), (120, 120, 120)]).getLookupTable(nPts=255, alpha=True), ZERO_RGBA]).astype(np.ubyte)

MODES = {
    "value": ("Weight value", "Each pixel's colour is its weight (the largest in magnitude when a pixel stands for a block)"),
    "zeros": ("Share of zeros", "Each pixel's grey shows how many weights of its block are exactly zero; black: all of them"),
}


class WeightHeatmap(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._map = None
        self._name = ""
        self.runner = JobRunner(self)  # a huge matrix takes a tenth of a second to map: off the GUI thread
        self.runner.finished.connect(self._mapped)
        self.plot = plot_widget(self, "input (columns: inputs × kernel positions)", "output (rows)")
        self.plot.getViewBox().invertY(True)
        self.plot.setToolTip("Drag to pan, scroll to zoom. Black pixels are weights that are exactly zero.")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.mode = QComboBox()
        for key, (label, tip) in MODES.items():
            self.mode.addItem(label, key)
            self.mode.setItemData(self.mode.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.mode.setToolTip("What a pixel's colour shows")
        self.mode.currentIndexChanged.connect(self._draw)
        fit = QPushButton("Fit")
        fit.setToolTip("Zoom out to the whole matrix")
        fit.clicked.connect(lambda: self.plot.autoRange(padding=0))
        self.caption = QLabel()
        self.caption.setWordWrap(True)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Colour by:"))
        bar.addWidget(self.mode)
        bar.addWidget(fit)
        bar.addWidget(self.caption, 1)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)
        self._placeholder = placeholder_in(self, content)

    def show_weight(self, name: str, weight: np.ndarray) -> None:
        self._name = name
        self.caption.setText(f"<b>{name}</b>: mapping {weight.size:,} weights…")
        self.runner.start(_map_job, weight)

    def clear(self, message: str) -> None:
        self.runner.cancel()
        self._map = None
        self.image.clear()
        self._placeholder.show_message(message)

    def closeEvent(self, event) -> None:
        self.runner.shutdown()
        super().closeEvent(event)

    def _mapped(self, weight_map) -> None:
        self._map = weight_map
        self._placeholder.show_content()
        self._draw()
        self.plot.autoRange(padding=0)

    def _draw(self) -> None:
        m = self._map
        if m is None:
            return
        rows, cols = m.shape
        per_pixel = "1 weight" if m.block == (1, 1) else f"a block of {m.block[0]} × {m.block[1]} weights"
        if self.mode.currentData() == "zeros":
            pixels = np.rint(m.zero_share * 254).astype(np.ubyte)  # 255, the black entry, only if all zero
            pixels[m.zero_share == 1] = 255
            lut, scale = SHARE_LUT, "white: no zeros, grey: some, black: all exactly zero"
        else:
            peak = float(np.abs(m.values).max()) or 1.0
            pixels = (1 + np.rint((m.values / peak + 1) * 127)).astype(np.ubyte)
            pixels[m.values == 0] = 0
            lut, scale = VALUE_LUT, f"black: exactly zero; blue −{peak:.3g} … white 0 … red +{peak:.3g}"
        self.image.setImage(pixels.T, lut=lut, levels=(0, 255), autoLevels=False)  # ImageItem's x is axis 0
        self.image.setRect(QRectF(0, 0, cols, rows))
        self.caption.setText(f"<b>{self._name}</b>: {rows:,} × {cols:,} weights; a pixel is {per_pixel}. {scale}")


def _map_job(weight: np.ndarray, cancel):
    from studio.core.inspect.weight_map import weight_map
    from studio.core.process.jobs import Progress

    yield Progress(0, 1, "mapping the weights")
    return weight_map(weight)
