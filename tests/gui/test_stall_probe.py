"""What keeps the window responsive while jobs run, and the probe the benchmarks measure it with."""

import os
import subprocess
import sys
import time

import pytest
import torch
from PySide6.QtCore import QTimer

from studio.gui.common.stall_probe import StallProbe
from studio.gui.run.live_charts import CHARTS, LiveCharts


def test_the_probe_sees_a_blocked_event_loop(qtbot):
    probe = StallProbe()
    probe.start()
    QTimer.singleShot(30, lambda: time.sleep(0.12))
    qtbot.wait(300)
    stalls = probe.stop()
    assert stalls.longest >= 110 and stalls.percentile(50) < 50
    assert stalls.percentile(100) == stalls.longest


def test_jobs_leave_the_window_a_core(studio):
    """The window's process computes on one thread; its jobs, forked, take the rest (test_isolated)."""
    from studio.core.process import threads

    assert torch.get_num_threads() == 1 and threads._thread_budget == max(1, (os.cpu_count() or 2) - 1)


ONE_EACH = {"accuracy": [[0, 0.5]], "sparsity": [[0, 0.8]], "size_bytes": [[0, 1000]], "loss": [[0.5, 2.0]]}


@pytest.fixture
def charts(qtbot):
    charts = LiveCharts()
    qtbot.addWidget(charts)
    charts.show()
    return charts


def test_live_charts_redraw_one_chart_per_turn_of_the_event_loop(charts, qtbot):
    points = {"accuracy": [[0, 0.5], [1, 0.9]], "sparsity": [[1, 0.8]], "size_bytes": [[1, 1000]], "loss": [[0, 2.0], [1, 1.0]]}
    charts.show_points(points)
    def drawn(metric):
        x = charts.curves[metric].xData
        return 0 if x is None else len(x)

    drawn_now = {metric: drawn(metric) for metric in ("accuracy", "sparsity", "size_bytes", "loss")}
    assert drawn_now == {"accuracy": 2, "sparsity": 0, "size_bytes": 0, "loss": 0}, "the others wait for the next turns"
    qtbot.waitUntil(lambda: drawn("loss") == 2)
    assert len(CHARTS) == 4 and drawn("sparsity") == 1


def test_the_background_warm_up_runs_every_kind_of_job_and_imports_every_core_module():
    """In a fresh process, so that no other test's imports hide one the warm-up missed; any failing job
    raises (in the app it runs on a daemon thread)."""
    script = (
        "import pkgutil, sys, studio.core\n"
        "from studio.gui.app import _warm_up\n"
        "_warm_up()\n"
        "print([m.name for m in pkgutil.walk_packages(studio.core.__path__, 'studio.core.') if m.name not in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_live_charts_share_a_time_axis_without_links(charts, qtbot):
    """Linked axes would make drawing one chart repaint all four in the same paint pass."""
    charts.show_points({"accuracy": [[0, 0.5], [3, 0.9]], "sparsity": [[1, 0.8]], "size_bytes": [[2, 1000]], "loss": [[0.5, 2.0]]})
    qtbot.waitUntil(lambda: charts.curves["loss"].xData is not None)
    ranges = {tuple(plot.getViewBox().viewRange()[0]) for plot in charts.plots.values()}
    assert all(plot.getViewBox().linkedView(0) is None for plot in charts.plots.values())
    assert len(ranges) == 1 and ranges.pop()[1] > 5  # the axis ends at the next of 1, 2, 5, 10… seconds


def test_live_charts_redraw_only_the_charts_with_new_points(charts, qtbot):
    """While training, loss comes ten times an epoch and the rest once: the other three stay as drawn."""
    points = ONE_EACH
    charts.show_points(points)
    qtbot.waitUntil(lambda: charts.curves["loss"].xData is not None and len(charts.curves["loss"].xData) == 1)
    drawn = []
    for name, plot in charts.plots.items():
        plot.getViewBox().sigRangeChanged.connect(lambda *_, name=name: drawn.append(name))
    charts.show_points({**points, "loss": [[0.5, 2.0], [0.7, 1.5]]})
    qtbot.waitUntil(lambda: len(charts.curves["loss"].xData) == 2)
    qtbot.wait(50)
    assert set(drawn) <= {"loss"}


def test_live_charts_dot_only_curves_of_few_points(charts, qtbot):
    """A dot per point marks the epochs' measurements; on a loss curve of hundreds it doubles the drawing."""
    from studio.gui.run.live_charts import DOTS_UP_TO

    many = [[i / 100, 1 / (i + 1)] for i in range(DOTS_UP_TO + 1)]
    charts.show_points({**ONE_EACH, "loss": many})
    qtbot.waitUntil(lambda: charts.curves["loss"].xData is not None and len(charts.curves["loss"].xData) == len(many))
    assert charts.curves["loss"].opts["symbol"] is None and charts.curves["accuracy"].opts["symbol"] == "o"
    charts.show_points({**ONE_EACH, "loss": many[:3]})  # the next run starts over
    qtbot.waitUntil(lambda: len(charts.curves["loss"].xData) == 3)
    assert charts.curves["loss"].opts["symbol"] == "o"


def test_the_warm_up_runs_without_the_cycle_collector_and_freezes_what_it_leaves(monkeypatch):
    """A full collection over the ~460,000 objects torch and onnx bring walks them all with Python's lock
    held (70–350 ms each): the warm-up's objects are frozen out of its reach instead."""
    import gc

    from studio.gui import app

    seen = []
    monkeypatch.setattr(app, "_warm_up", lambda: seen.append((gc.isenabled(), [object() for _ in range(10)])))
    frozen = gc.get_freeze_count()
    app.warm_up_in_background().join()
    assert seen[0][0] is False and gc.isenabled()
    assert gc.get_freeze_count() >= frozen + 10


def test_live_charts_still_draw_charts_waiting_when_new_points_come(charts, qtbot):
    points = ONE_EACH
    charts.show_points(points)
    charts.show_points({**points, "loss": [[0.5, 2.0], [0.7, 1.5]]})  # before the other charts' turns came
    qtbot.waitUntil(lambda: all(charts.curves[m].xData is not None and len(charts.curves[m].xData) for m in points))
    assert all(plot.updatesEnabled() for plot in charts.plots.values())
