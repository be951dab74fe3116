"""Panels on their own: the histogram (zeros apart, log count, overlay, grid) and the weight heatmap."""

import numpy as np
import pyqtgraph as pg
import pytest

from studio.core.inspect.stats import histogram, weight_stats
from studio.gui.inspect.histogram_view import HistogramView
from studio.gui.inspect.weight_heatmap import WeightHeatmap


@pytest.fixture
def pruned():
    w = np.random.default_rng(0).normal(size=(40, 30)).astype(np.float32)
    w[np.abs(w) < 0.5] = 0
    return w


@pytest.fixture
def view(qtbot, pruned):
    view = HistogramView("nothing yet")
    qtbot.addWidget(view)
    view.show_histogram(histogram([pruned]), weight_stats([pruned]), "Weights of test")
    return view


def items(view, kind):
    return [i for i in view.plot.plotItem.items if isinstance(i, kind)]


def test_zeros_are_their_own_bar_at_zero(view, pruned):
    zeros = int((pruned == 0).sum())
    values, zero_bar = items(view, pg.BarGraphItem)
    assert list(zero_bar.opts["x"]) == [0.0] and list(zero_bar.opts["height"]) == [zeros]
    assert sum(values.opts["height"]) == pruned.size - zeros
    assert f"exactly zero: {zeros:,}" in view.legend.text()
    assert f"{pruned.size:,} weights · {zeros:,} exactly zero" in view.stats.toolTip()


def test_log_count(view, pruned):
    view.log.setChecked(True)
    _, zero_bar = items(view, pg.BarGraphItem)
    assert zero_bar.opts["height"][0] == pytest.approx(np.log10((pruned == 0).sum()))
    assert view.plot.getAxis("left").logMode


def test_overlay_and_grid(view, pruned):
    view.set_overlay(histogram([pruned * 1.5]), "before pruning")
    view.set_grid(np.linspace(-2, 2, 16), "int4 levels")
    assert len(items(view, pg.PlotDataItem)) == 2 and "before pruning" in view.legend.text()
    assert list(view.grid.xData[::2]) == list(np.linspace(-2, 2, 16)) and "int4 levels" in view.legend.text()
    top = max(view.grid.yData)
    view.set_grid(np.linspace(-2, 2, 255), "int8 grid")  # many levels: short ticks along the bottom, bars stay readable
    assert max(view.grid.yData) == 0 and -top / 4 < min(view.grid.yData) < 0 and len(view.grid.xData) == 2 * 255
    view.set_grid(None)
    view.set_overlay(None)
    assert view.grid is None and not items(view, pg.PlotDataItem)


def test_asking_for_the_same_overlay_again_draws_nothing_new(view, pruned, monkeypatch):
    """The window asks on every version change and layer pick; each redraw cost a paint."""
    before = histogram([pruned * 1.5])
    view.set_overlay(before, "before pruning")
    drawn = []
    monkeypatch.setattr(view, "_redraw", lambda: drawn.append(1))
    view.set_overlay(before, "before pruning")
    assert drawn == []
    view.set_overlay(before, "the original")
    view.set_overlay(None)
    view.set_overlay(None)
    assert drawn == [1, 1]



def test_a_few_outliers_leave_the_bulk_drawn_and_are_counted_beside_it(qtbot):
    """A real model's whole histogram was one bar at 0: a batch norm's scale of 18 set the range."""
    rng = np.random.default_rng(3)
    w = np.concatenate([rng.normal(0, 0.05, 50_000), [-17.2, 18.7, 18.0]]).astype(np.float32)
    view = HistogramView("nothing yet")
    qtbot.addWidget(view)
    view.show_histogram(histogram([w], bulk=0.005), weight_stats([w]), "Weights of the whole model")
    values = items(view, pg.BarGraphItem)[0]
    assert -0.2 < min(values.opts["x0"]) and max(values.opts["x1"]) < 0.2  # the bulk, not −17 … 19
    assert "not drawn: " in view.legend.text() and " below -0." in view.legend.text() and " above 0." in view.legend.text()
    assert "min -17.2 · max 18.7" in view.stats.text()  # the whole range is still said

def test_heatmap_shows_zeros_black_and_keeps_them_when_downsampled(qtbot, pruned):
    heatmap = WeightHeatmap()
    qtbot.addWidget(heatmap)
    with qtbot.waitSignal(heatmap.runner.finished):  # mapped in the worker
        heatmap.show_weight("w", pruned)
    pixels = heatmap.image.image.T  # back to rows × columns
    assert pixels.shape == pruned.shape
    np.testing.assert_array_equal(pixels == 0, pruned == 0)  # entry 0 of the colour table is black
    assert tuple(heatmap.image.lut[0]) == (0, 0, 0, 255)

    big = np.random.default_rng(1).normal(size=(3000, 2500)).astype(np.float32)
    big[1000:1400] = 0
    with qtbot.waitSignal(heatmap.runner.finished):
        heatmap.show_weight("big", big)
    pixels = heatmap.image.image.T
    assert max(pixels.shape) <= 1024 and "a block of 3 × 3 weights" in heatmap.caption.text()
    assert (pixels[340:460] == 0).all() and (pixels[:300] != 0).all()
    heatmap.mode.setCurrentIndex(heatmap.mode.findData("zeros"))
    pixels = heatmap.image.image.T
    assert (pixels[340:460] == 255).all() and tuple(heatmap.image.lut[255]) == (0, 0, 0, 255)
