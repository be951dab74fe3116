"""Agreement is with a version's parent, and the window says so: the Versions tree and its tooltips,
the comparison, and the Run panel's chart (whose agreement is with the version the run started from)."""

from conftest import LOAD_TIMEOUT_MS


def unlabeled(window, qtbot):
    session = window.compression.session
    session.set_data({"path": "sample:digits", "labels": "none"})
    qtbot.waitUntil(lambda: not session.running and "agreement" not in session.version.metrics
                    and "size_bytes" in session.version.metrics, timeout=LOAD_TIMEOUT_MS)


def test_agreement_names_the_version_it_is_with(studio, run_sheet, qtbot):
    window = studio
    unlabeled(window, qtbot)

    def configure(sheet):
        sheet.form.set_value("sparsity", 0.6)
        sheet.finetune.set_value("epochs", 1)

    pruned, tuned = run_sheet(window, "prune", configure)
    panel = window.compression.versions
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1 and panel.tree.currentItem() is not None)
    item = panel.tree.currentItem()  # v2, made from v1
    assert item.text(3) == f"{100 * tuned.metrics['agreement']:.1f} %"
    assert panel.tree.headerItem().text(3) == "Agreement" and "same answer as its parent" in panel.tree.headerItem().toolTip(3)
    assert f"agrees with v1 (its parent) on {tuned.metrics['agreement']:.2%}" in item.toolTip(0)
    assert f"agrees with v1 on {tuned.metrics['agreement']:.1%}" in panel.difference.text()  # compared with its parent

    charts = window.compression.run_dock.widget().charts
    assert "agreement with v0" in charts.legends["accuracy"].text() and "accuracy" not in charts.legends["accuracy"].text()
    assert charts.plots["accuracy"].getAxis("left").labelText == "agreement (%)"  # no accuracy without labels
    # charted: v1's agreement with v0 and the fine-tuning epoch's with v0 (its teacher); v2's own, with v1, is not
    assert len(window.compression.session.points["agreement"]) == 2


def test_the_charts_of_an_earlier_run_name_where_it_started(studio, run_sheet, qtbot):
    window = studio
    unlabeled(window, qtbot)
    run_sheet(window, "prune", lambda sheet: (sheet.form.set_value("sparsity", 0.5), sheet.finetune.set_value("epochs", 0)))
    run_sheet(window, "prune", lambda sheet: (sheet.form.set_value("sparsity", 0.7), sheet.finetune.set_value("epochs", 0)))
    charts = window.compression.run_dock.widget().charts
    assert "agreement with v1" in charts.legends["accuracy"].text()
    window.compression.session.select(1)
    qtbot.waitUntil(lambda: "agreement with v0" in charts.legends["accuracy"].text())


def test_sensitivity_without_labels_is_agreement_with_the_version_analysed(studio, qtbot):
    from conftest import RUN_TIMEOUT_MS
    from PySide6.QtCore import Qt

    window = studio
    unlabeled(window, qtbot)
    sheet = window.compression.open_sheet("prune")
    with qtbot.waitSignal(window.compression.session.runner.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(sheet.analyse, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sheet.chart.isVisible())
    assert sheet.chart.plot.getAxis("left").labelText == "agreement with v0 (%)"


def test_a_quantized_versions_agreement_is_charted_and_its_pareto_axis_says_so(studio, run_sheet, qtbot):
    window = studio
    unlabeled(window, qtbot)
    (version,) = run_sheet(window, "quantize", lambda sheet: (sheet.form.set_value("mode", "static"), sheet.form.set_value("samples", 64)))
    points = window.compression.session.points["agreement"]  # the quantizer's own size report is not the step's end
    assert [p[1] for p in points] == [version.metrics["agreement"]]
    pareto = window.compression.versions.pareto
    assert pareto.plot.getAxis("left").labelText == "agreement (%)" and "agreement with its parent" in pareto.note.text()
    assert not pareto.note.isHidden()


def test_with_accuracy_and_agreement_in_one_tree_each_agreement_names_its_parent(studio, run_sheet, qtbot):
    window = studio
    run_sheet(window, "prune", lambda sheet: (sheet.form.set_value("sparsity", 0.5), sheet.finetune.set_value("epochs", 0)))
    window.compression.session.set_data({"path": "sample:digits", "labels": "none"})  # the next version: agreement only
    (version,) = run_sheet(window, "prune", lambda sheet: (sheet.form.set_value("sparsity", 0.7), sheet.finetune.set_value("epochs", 0)))
    panel = window.compression.versions
    qtbot.waitUntil(lambda: panel.tree.currentItem() is not None and panel.tree.currentItem().text(0) == version.label)
    assert panel.tree.currentItem().text(3) == f"{100 * version.metrics['agreement']:.1f} % like v1"
    assert panel.tree.headerItem().text(3) == "Accuracy"


def test_a_chart_a_run_had_nothing_for_says_so(studio, run_sheet):
    window = studio
    run_sheet(window, "quantize", lambda sheet: sheet.form.set_value("mode", "dynamic"))
    legend = window.compression.run_dock.widget().charts.legends["loss"].text()
    assert "no training in this run" in legend and "teacher part" not in legend
