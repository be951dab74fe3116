"""Opening another model leaves nothing of the last one on screen: the Run panel's charts, the
sensitivity chart, the Pareto chart; and the Distill sheet's choices follow the new model."""

from conftest import LOAD_TIMEOUT_MS, RUN_TIMEOUT_MS
from PySide6.QtCore import Qt


def npoints(pareto) -> int:
    return 0 if pareto.points.xData is None else len(pareto.points.xData)


def curves_empty(charts) -> bool:
    return all(c.xData is None or len(c.xData) == 0 for c in charts.curves.values())


def test_charts_of_the_last_model_go_when_another_opens(studio, run_sheet, load, qtbot):
    window = studio
    c = window.compression
    run_sheet(window, "prune", lambda sheet: (sheet.form.set_value("sparsity", 0.5), sheet.finetune.set_value("epochs", 1)))
    sheet = c.open_sheet("prune")
    with qtbot.waitSignal(c.session.runner.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(sheet.analyse, Qt.MouseButton.LeftButton)
    dock = c.run_dock.widget()
    qtbot.waitUntil(lambda: dock.has_charts and sheet.chart.isVisible() and npoints(c.versions.pareto) == 3)

    load(window, "sample:lenet-300-100")
    qtbot.waitUntil(lambda: not c.session.running, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: curves_empty(dock.charts))
    assert not dock.has_charts and dock.charts_holder.message.startswith("Run a compression")
    assert not sheet.chart.isVisible() and sheet.layers.shares() == {}
    assert npoints(c.versions.pareto) <= 1 and len(c.versions.pareto.labels) <= 1


def test_a_run_cut_short_by_another_model_leaves_no_charts(studio, load, qtbot):
    window = studio
    c = window.compression
    sheet = c.open_sheet("prune")
    sheet.finetune.set_value("epochs", 5)
    with qtbot.waitSignal(c.session.runner.progress, timeout=RUN_TIMEOUT_MS, check_params_cb=lambda e: "loss" in e.metrics):
        qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
    load(window, "sample:lenet-300-100")
    qtbot.waitUntil(lambda: not c.session.running, timeout=LOAD_TIMEOUT_MS)
    dock = c.run_dock.widget()
    assert c.session.points == {} and not dock.has_charts
    qtbot.waitUntil(lambda: curves_empty(dock.charts))


def test_the_slimmer_copy_comes_back_for_a_model_that_has_one(make_window, load, model_files):
    window = make_window()
    load(window, model_files["onnx"])
    distill = window.compression.open_sheet("distill")
    assert distill.kind.checkedButton() is None
    load(window, "sample:digits-cnn")
    assert distill.slim.isEnabled() and distill.slim.isChecked() and not distill.slim_note.isVisibleTo(window)
    assert distill.steps()[0][1]["student"] == {"width": 0.25}
