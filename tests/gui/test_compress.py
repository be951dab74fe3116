"""Compressing through the window: the Prune, Quantize and Distill sheets, their live charts, cancel,
sensitivity analysis, and errors as one line."""

import numpy as np
import pytest
import torch
from conftest import RUN_TIMEOUT_MS
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox

from studio.gui.common import dialogs


def points(window, metric):
    x = window.compression.run_dock.widget().charts.curves[metric].xData
    return 0 if x is None else len(x)  # None until its chart's turn to draw comes


def test_prune_with_fine_tuning_makes_two_versions_and_draws_live_charts(studio, run_sheet, qtbot):
    window = studio
    session = window.compression.session
    drawn = []
    charts = window.compression.run_dock.widget().charts
    original = charts.show_points
    charts.show_points = lambda p: (drawn.append(sum(map(len, p.values()))), original(p))[1]

    def configure(sheet):
        sheet.form.set_value("sparsity", 0.7)
        sheet.finetune.set_value("epochs", 1)

    pruned, tuned = run_sheet(window, "prune", configure)
    assert (pruned.parent, tuned.parent) == (0, pruned.id) and session.current == tuned.id
    assert pruned.result.op == "prune" and tuned.result.op == "finetune"
    assert abs(tuned.metrics["weight_sparsity"] - 0.7) < 1e-3
    assert tuned.metrics["accuracy"] > 0.9
    assert window.compression.run_dock.isVisible()
    assert len(drawn) >= 2 and drawn[-1] > drawn[0]  # redrawn during the run, not once at its end
    for metric in ("accuracy", "sparsity", "size_bytes", "zip_bytes", "loss"):  # drawn one chart after another
        qtbot.waitUntil(lambda: points(window, metric) >= 2)
    assert [window.compression.versions.tree.topLevelItem(0).text(0)] == ["v0 original"]
    assert window.windowTitle().startswith("sample:digits-cnn (v2 fine-tuned 1 epoch)")
    zeros = window.info.stats["fc1"].sparsity
    assert zeros > 0.5  # the shown model is the pruned one: the heatmap and histograms show its zeros
    qtbot.waitUntil(lambda: "v1 pruned 70% (outline)" in window.layer_panel.histogram.legend.text(), timeout=30_000)


def test_cancel_mid_run_leaves_the_current_version_as_it_was(studio, qtbot):
    window = studio
    session = window.compression.session
    before = session.version
    weights = {k: v.clone() for k, v in before.model.module.state_dict().items()}
    sheet = window.compression.open_sheet("prune")
    sheet.finetune.set_value("epochs", 5)
    with qtbot.waitSignal(session.runner.progress, timeout=RUN_TIMEOUT_MS, check_params_cb=lambda e: "loss" in e.metrics):
        qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
    assert not sheet.run_button.isEnabled()  # one run at a time
    qtbot.mouseClick(window.compression.run_dock.widget().cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not session.running and sheet.run_button.isEnabled(), timeout=RUN_TIMEOUT_MS)
    qtbot.wait(100)  # nothing of the cancelled run comes in after it
    assert list(session.history.versions) == [0] and session.version is before
    assert all(torch.equal(weights[k], v) for k, v in before.model.module.state_dict().items())
    assert window.info.model is before.model
    assert "Cancelled" in window.compression.run_dock.widget().message.text()
    assert sheet.run_button.isEnabled()


def test_quantize_shows_which_operations_became_int8(studio, run_sheet):
    window = studio

    def configure(sheet):
        sheet.form.set_value("mode", "static")
        sheet.form.set_value("samples", 64)

    (version,) = run_sheet(window, "quantize", configure)
    sheet = window.compression.sheet.sheets["quantize"]
    precisions = [sheet.ops.item(r, 2).text() for r in range(sheet.ops.rowCount())]
    assert precisions == ["int8"] * 4
    assert sheet.summary.text() == "4 of 4 in int8"
    assert version.model.onnx is not None and version.metrics["size_bytes"] < 0.4 * window.compression.session.history.versions[0].metrics["size_bytes"]
    assert "runs in" in sheet.ops.item(0, 2).toolTip()


def test_keep_float_layers_stay_float(studio, run_sheet):
    window = studio

    def configure(sheet):
        sheet.keep.set_checked("fc2", True)

    run_sheet(window, "quantize", configure)
    sheet = window.compression.sheet.sheets["quantize"]
    assert sorted(sheet.ops.item(r, 2).text() for r in range(sheet.ops.rowCount())) == ["float", "int8", "int8", "int8"]


def test_distill_a_width_student_draws_both_parts_of_the_loss(studio, run_sheet, qtbot):
    window = studio

    def configure(sheet):
        sheet.width.setValue(50)
        sheet.form.set_value("epochs", 1)

    (student,) = run_sheet(window, "distill", configure)
    assert student.result.options["student"] == {"width": 0.5}
    assert student.metrics["parameters"] < window.compression.session.history.versions[0].metrics["parameters"]
    for metric in ("loss", "loss_distill", "loss_labels"):  # the charts draw one after another, a few ms apart
        qtbot.waitUntil(lambda: points(window, metric) >= 1)
    teacher = window.compression.run_dock.widget().charts.teacher
    assert teacher.isVisible() and abs(teacher.value() - 100 * window.compression.session.history.versions[0].metrics["accuracy"]) < 1e-6


def test_sensitivity_analysis_suggests_per_layer_sparsities(studio, run_sheet, qtbot):
    window = studio
    sheet = window.compression.open_sheet("prune")
    sheet.form.set_value("sparsity", 0.8)
    with qtbot.waitSignal(window.compression.session.runner.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(sheet.analyse, Qt.MouseButton.LeftButton)
    shares = sheet.layers.shares()
    assert set(shares) == {"conv1", "conv2", "fc1", "fc2"} and sheet.chart.isVisible()
    assert len(sheet.chart.plot.listDataItems()) == 4
    sizes = {"conv1": 144, "conv2": 4608, "fc1": 32768, "fc2": 640}
    assert abs(sum(sizes[k] * s for k, s in shares.items()) / sum(sizes.values()) - 0.8) < 0.01
    sheet.finetune.set_value("epochs", 0)
    (version,) = run_sheet(window, "prune")
    assert version.result.options["layers"] == shares


def test_every_sheet_control_has_a_tooltip(studio):
    window = studio
    for name in ("prune", "quantize", "distill"):
        sheet = window.compression.open_sheet(name)
        controls = sheet.findChildren(QAbstractButton) + sheet.findChildren(QComboBox)
        assert not [c.text() if hasattr(c, "text") else c for c in controls if c.isVisibleTo(window) and not c.toolTip()], name


def test_an_error_in_a_run_is_one_line_and_changes_nothing(studio, qtbot, monkeypatch, tmp_path):
    window = studio
    session = window.compression.session
    shown = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text, details=None: shown.append((title, text)))
    sheet = window.compression.open_sheet("distill")
    sheet.file.setChecked(True)
    qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
    assert shown[-1] == ("Cannot distill yet", "student: choose the student model's file, or another kind of student")
    sheet.path.setText(str(tmp_path / "missing.pt"))
    qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=RUN_TIMEOUT_MS)
    title, text = shown[-1]
    assert title == "Could not finish distill" and "missing.pt" in text and "\n" not in text
    assert list(session.history.versions) == [0]


def test_the_run_dock_says_what_to_do_before_any_run(studio):
    dock = studio.compression.run_dock.widget()
    assert dock.charts_holder.message.startswith("Run a compression")


def test_a_new_version_comes_with_its_analysis_or_the_window_makes_one(studio, run_sheet, monkeypatch):
    """The run's child analyses each new version for the panels; if that fails, the window analyses it."""
    from studio.core.project import workspace

    window = studio
    started = []
    window.runner.runningChanged.connect(lambda running: running and started.append(True))
    run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    assert not started  # shown from the child's analysis: no analysis job in the window
    monkeypatch.setattr(workspace, "_analysis", lambda model: None)
    added = run_sheet(window, "prune", lambda sheet: (sheet.form.set_value("sparsity", 0.9), sheet.finetune.set_value("epochs", 0)))
    assert started and window.info.stats and window.info.total.sparsity > 0.85 and window.info.model is added[-1].model


def test_a_quantized_layer_shows_its_int8_grid_over_its_histogram(studio, run_sheet, qtbot):
    import pyqtgraph as pg

    window = studio
    histogram = window.layer_panel.histogram
    window.select_layer("fc1", force=True)
    assert histogram.grid is None and "grid" not in histogram.legend.text()  # a float layer: no grid

    def configure(sheet):
        sheet.form.set_value("mode", "static")
        sheet.form.set_value("samples", 64)

    run_sheet(window, "quantize", configure)
    layer = window.info.layer(window.layer)
    assert layer.quantized, "the statically quantized version's layers say how they are stored"
    assert histogram.grid is not None and "int8 grid" in histogram.legend.text()
    assert histogram.grid in histogram.plot.plotItem.items and isinstance(histogram.grid, pg.PlotDataItem)
    xs = histogram.grid.xData[::2]  # one tick per level: scale × (q − zero point)
    q = next(q for q in layer.quantized.values() if q.bits == 8)
    steps = np.diff(xs)
    assert np.allclose(steps, steps[0]) and steps[0] == pytest.approx(float(np.max(q.scale)), rel=1e-5)
    edges = window.info.histograms[layer.name].edges
    margin = (edges[-1] - edges[0]) * 0.011
    assert edges[0] - margin <= xs.min() and xs.max() <= edges[-1] + margin  # only the levels in view

    window.compression.versions.tree.setCurrentItem(window.compression.versions.tree.topLevelItem(0))  # the float original
    qtbot.waitUntil(lambda: window.info.model is window.compression.session.history.versions[0].model, timeout=30_000)
    qtbot.waitUntil(lambda: window.layer is not None, timeout=30_000)
    assert histogram.grid is None and "grid" not in histogram.legend.text()
