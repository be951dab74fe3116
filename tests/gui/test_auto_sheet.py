"""The Make it smaller sheet drives a goal-driven search through the window: the candidates show up live in
its table and on the Pareto chart with the goal's area, the best becomes a version (after the steps that
made it), the sheet says whether the goal was met, and Stop (or the Run panel's Cancel) keeps the best."""

from conftest import RUN_TIMEOUT_MS
from PySide6.QtCore import Qt

from studio.gui.common.stall_probe import StallProbe


def open_auto(window, smaller, minutes=1.0, drop=1.0):
    c = window.compression
    c.actions["auto"].trigger()  # the toolbar's and the Compress menu's action
    sheet = c.sheet.sheets["auto"]
    assert c.sheet.currentWidget() is sheet and c.compress_dock.isVisible()
    sheet.smaller.setValue(smaller)
    sheet.drop.setValue(drop)
    sheet.budget.setValue(minutes)
    return sheet


def test_the_sheet_runs_a_search_shows_every_candidate_and_adds_the_best(studio, qtbot):
    window = studio
    c = window.compression
    session = c.session
    sheet = open_auto(window, smaller=6, drop=2)  # int8 alone is not enough: a pruning and int8 after it are
    assert sheet.faster.text() == "not asked" and sheet.drop_label.text() == "Accuracy lost, at most"
    seen = []  # the table's rows, each time a candidate came in
    session.runner.progress.connect(lambda e: getattr(e, "candidate", None) and seen.append(sheet.table.rowCount()))
    added = []
    session.runFinished.connect(added.extend)
    probe = StallProbe()
    probe.start()
    with qtbot.waitSignals([session.runFinished, window.modelChanged], timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
        assert sheet.stop.isVisible() and not sheet.run_button.isEnabled() and "left" in sheet.status.text()
        assert "a search shows its candidates" in window.compression.run_dock.widget().charts_holder.message
    assert probe.stop().percentile(99) < 100  # ms: the search computes in a forked child (measured: longest 39, 99 % under 9)
    assert seen == list(range(1, len(seen) + 1)) and len(seen) >= 2  # a row as each candidate finished, not at the end
    assert sheet.table.rowCount() == len(seen)
    statuses = [sheet.table.item(r, 0).text().split("\n")[1] for r in range(sheet.table.rowCount())]
    assert statuses[0] == "where it starts" and "meets the goal" in statuses
    (best,) = [r for r in range(sheet.table.rowCount()) if sheet.table.item(r, 0).font().bold()]  # one best, in bold
    size, latency = sheet.table.item(best, 1).text().split("\n")
    assert statuses[best] == "meets the goal" and "KB (" in size and "×)" in size and " ms (" in latency
    assert "%" in sheet.table.item(best, 2).text() and "took" in sheet.table.item(best, 2).toolTip()
    # the best, with each step that made it, is a version of the project, and the one shown
    last = added[-1]
    assert session.version is last and window.info.model is last.model and added[0].parent == 0
    assert len(added) >= 2 and [v.result.op for v in added] == [op for op, _ in session.history.recipe(last.id, session.data).steps]
    assert [v.result.op for v in added][-1] == "quantize" and "prune" in [v.result.op for v in added]
    assert last.metrics["zip_bytes"] < session.history.versions[0].metrics["zip_bytes"] / 4
    assert sheet.verdict.isVisible() and "Goal met" in sheet.verdict.text()
    assert f"Added as v{last.id}, after the steps that made it (v{added[0].id}" in sheet.verdict.text()
    assert "Done in" in sheet.status.text() and not sheet.stop.isVisible() and sheet.run_button.isEnabled()
    # on the Pareto chart: a diamond per measured candidate, the goal as a shaded area, named in the caption
    chart = c.versions.pareto
    assert len(chart.tried.xData) == sheet.table.rowCount() and chart.goal.xData is not None and len(chart.goal.xData) == 3
    assert "tried" in chart.legend.text() and "goal" in chart.legend.text()
    x_edge = chart.goal.xData[1]
    assert any(x <= x_edge for x in chart.tried.xData) and any(x > x_edge for x in chart.tried.xData)  # the start is outside
    chart.size.setCurrentIndex(chart.size.findData("latency_ms"))  # the goal asks nothing of speed: no right edge there
    assert len(chart.tried.xData) == sheet.table.rowCount() - 1  # the start is timed beside each candidate, not alone
    assert chart.goal.xData[1] > max(chart.tried.xData)
    assert "Goal met" in window.statusBar().currentMessage()


def test_stop_ends_the_search_with_the_best_so_far(studio, qtbot):
    window = studio
    c = window.compression
    session = c.session
    sheet = open_auto(window, smaller=1000, minutes=2)  # never met: only the budget or Stop ends it
    with qtbot.waitSignal(session.runner.progress, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda e: getattr(e, "candidate", None) is not None and e.candidate.index >= 1):
        qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
    run_dock = c.run_dock.widget()
    assert "candidates done" in run_dock.message.text() and "left" in run_dock.message.text()  # the Run panel's line too
    added = []
    session.runFinished.connect(added.extend)
    with qtbot.waitSignals([session.runFinished, window.modelChanged], timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(run_dock.cancel, Qt.MouseButton.LeftButton)  # as the sheet's Stop: ends it, keeping the best
        assert not sheet.stop.isEnabled() and "stopping" in sheet.status.text()
    assert session.version is added[-1] and not session.running
    assert "Goal not met" in sheet.verdict.text() and "Stopped before the end" in sheet.verdict.text()
    assert "smaller of the 1000× asked" in sheet.verdict.text()  # how close it came
    assert sheet.table.rowCount() >= 2
    assert "Cancelled" not in run_dock.message.text()



def test_a_second_cancel_stops_at_once_and_keeps_nothing(studio, qtbot):
    window = studio
    c = window.compression
    session = c.session
    sheet = open_auto(window, smaller=1000, minutes=2)
    with qtbot.waitSignal(session.runner.progress, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda e: getattr(e, "candidate", None) is not None and e.candidate.index >= 1):
        qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(sheet.stop, Qt.MouseButton.LeftButton)  # first: stop with the best so far…
    with qtbot.waitSignal(session.runner.cancelled, timeout=5_000):
        qtbot.mouseClick(c.run_dock.widget().cancel, Qt.MouseButton.LeftButton)  # …then at once
    qtbot.wait(300)
    assert list(session.history.versions) == [0] and not session.running
    assert "nothing the search found was kept" in sheet.status.text() and not sheet.stop.isVisible()
    assert sheet.run_button.isEnabled()
