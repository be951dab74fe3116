"""Where the time goes, in the window: Profile fills the Layers table's Time column, the graph's Time
colouring with its legend, the chart by operator and the reasons; another version shown clears them."""

from conftest import RUN_TIMEOUT_MS
from PySide6.QtCore import Qt

from studio.gui.inspect.layer_table import TIME


def profile(window, qtbot):
    profiling = window.compression.profiling
    with qtbot.waitSignal(window.compression.session.runner.finished, timeout=RUN_TIMEOUT_MS):
        profiling.panel.profile_button.click()
    return profiling


def times(window) -> dict[str, str]:
    model = window.table.model
    return {model.name_at(r): model.index(r, TIME).data() for r in range(model.rowCount())}


def test_profile_fills_the_time_views_and_switching_versions_clears_them(studio, run_sheet, qtbot):
    window = studio
    profiling = profile(window, qtbot)
    shown = times(window)
    assert set(shown) == {"conv1", "conv2", "fc1", "fc2"} and all(t.endswith("%)") and " ms (" in t for t in shown.values())
    panel = profiling.panel
    assert "v0" in panel.title.text() or window.compression.session.version.label in panel.title.text()
    assert panel.bars is not None and len(panel.bars.opts["width"]) >= 3
    assert panel.why_box.isEnabled() and panel.why.text()
    assert "ms of that the profiler's own" in panel.summary.text()  # a small CNN's nodes: the profiler's share is large
    graph = window.graph
    assert graph.mode_buttons["time"].isEnabled()
    graph.mode_buttons["time"].click()
    colouring = graph.canvas.colouring
    assert colouring.ramp is not None and "ms" in colouring.ramp[1][-1] and "%" in colouring.ramp[1][-1]
    assert "Measured time" in colouring.ramp[0] and graph.canvas.legend.isVisibleTo(graph)

    run_sheet(window, "quantize", lambda sheet: sheet.form.set_value("mode", "dynamic"))
    assert not any(times(window).values())
    assert not graph.mode_buttons["time"].isEnabled() and graph.canvas.colouring.ramp is None
    assert panel.bars is None and "not profiled" in panel.title.text()


def test_dynamic_int8_convolutions_are_explained(studio, run_sheet, qtbot):
    window = studio
    run_sheet(window, "quantize", lambda sheet: sheet.form.set_value("mode", "dynamic"))
    profiling = profile(window, qtbot)
    assert "ConvInteger" in profiling.panel.why.text()
    assert any(times(window).values())  # quantized layers found under their float names
    session = window.compression.session
    with qtbot.waitSignal(window.modelChanged, timeout=RUN_TIMEOUT_MS):
        session.select(0)
    assert not any(times(window).values())
    with qtbot.waitSignal(window.modelChanged, timeout=RUN_TIMEOUT_MS):
        session.select(1)
    assert "ConvInteger" in profiling.panel.why.text() and any(times(window).values())  # its own profile comes back


def test_a_saved_project_keeps_each_versions_profile(studio, make_window, qtbot, tmp_path, monkeypatch, choose_folder):
    from PySide6.QtWidgets import QFileDialog

    window = studio
    profiling = profile(window, qtbot)
    shown, why = times(window), profiling.panel.why.text()
    folder = tmp_path / "profiled"
    choose_folder(folder)
    window.compression.save_project_action.trigger()
    qtbot.waitUntil(lambda: "Saved the project" in window.statusBar().currentMessage(), timeout=60_000)
    window.compression.files.autosaved()

    other = make_window()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(other.modelChanged, timeout=60_000):
        other.compression.open_project_action.trigger()
    again = other.compression.profiling
    assert times(other) == shown and again.panel.why.text() == why  # shown at once, not profiled again
    assert again.panel.bars is not None and again.profile_of(other.info.model).timings is not None


def test_the_summary_shows_its_notes_as_written(qtbot):
    # escaped notes in a label Qt took for plain text showed "profiler&#x27;s"
    from PySide6.QtGui import QTextDocument

    from studio.gui.profile.profile_job import TimeProfile
    from studio.gui.profile.time_panel import TimePanel

    panel = TimePanel()
    qtbot.addWidget(panel)
    panel.show_profile(TimeProfile(0.14, 0.44, {"Conv": 0.44}, [("conv", "Conv", 0.44, 1.0, "CPU")], {}, {}, 0.0, [],
                                   "batch 1", notes=["the profiler's own time is more than the nodes' own & <short>"]))
    page = QTextDocument()
    page.setHtml(panel.summary.text())
    assert panel.summary.textFormat() == Qt.TextFormat.RichText
    assert "The profiler's own time is more than the nodes' own & <short>." in page.toPlainText()
