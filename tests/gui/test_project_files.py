"""The whole walk through the window, saved as a project and opened again; the autosave and its
restore after a crash."""

import os
import subprocess
import sys

from PySide6.QtWidgets import QFileDialog, QMessageBox

from studio.gui.versions.project_files import autosave_folder, crashed_autosave


def walk(window, run_sheet):
    """open sample → prune → fine-tune → quantize → distill (the quantized teacher, a sample student)."""

    def prune(sheet):
        sheet.form.set_value("sparsity", 0.8)
        sheet.finetune.set_value("epochs", 1)

    def distill(sheet):
        assert not sheet.slim.isEnabled() and sheet.kind.checkedButton() is None  # a quantized teacher cannot be slimmed
        assert sheet.slim_note.text().startswith("Not from a quantized teacher")
        sheet.sample.setChecked(True)  # and the user chooses another student
        assert sheet.samples.currentData() == "digits-cnn"
        sheet.form.set_value("epochs", 1)

    run_sheet(window, "prune", prune)
    run_sheet(window, "quantize")
    run_sheet(window, "distill", distill)


def summary(session):
    return {vid: (v.label, v.parent, v.result.op, v.metrics["nonzero_parameters"], v.metrics.get("accuracy"))
            for vid, v in session.history.versions.items()}


def test_the_full_walk_saved_and_opened_again(studio, run_sheet, make_window, qtbot, tmp_path, monkeypatch, choose_folder):
    window = studio
    session = window.compression.session
    walk(window, run_sheet)
    assert [v.result.op for v in session.history.lineage(session.current)] == ["load", "prune", "finetune", "quantize", "distill"]
    chart = window.compression.versions.pareto
    assert len(chart.points.getData()[0]) == len(session.history.versions) == 5
    assert set(chart.front) <= set(session.history.versions) and chart.front

    folder = tmp_path / "projects" / "walk"  # not made yet: saving makes it
    choose_folder(folder)
    window.compression.save_project_action.trigger()
    qtbot.waitUntil(lambda: "Saved the project (5 versions)" in window.statusBar().currentMessage(), timeout=60_000)
    assert (folder / "project.json").is_file()

    window.compression.files.autosaved()  # both windows autosave to the one folder: not at the same time
    other = make_window()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(other.modelChanged, timeout=60_000):
        other.compression.open_project_action.trigger()
    again = other.compression.session
    assert summary(again) == summary(session) and again.current == session.current
    assert again.data == "sample:digits" and other.compression.picker.spec() == "sample:digits"
    assert other.info.model is again.version.model
    assert again.charts.keys() == session.charts.keys()
    assert len(other.compression.versions.pareto.points.getData()[0]) == 5


def test_a_crashed_session_is_offered_back(studio, run_sheet, make_window, qtbot, monkeypatch, tmp_path):
    window = studio
    run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    qtbot.wait(10)  # the save is asked for once the event loop turns
    window.compression.files.autosaved()
    folder = autosave_folder()
    assert str(tmp_path) in str(folder) and folder.name == str(os.getpid()) and (folder / "project.json").is_file()
    assert make_window().compression.session.history is None  # a live studio's autosave is never offered

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    crashed = folder.rename(autosave_folder(int(finished.stdout)))  # as if a studio had crashed
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: (asked.append(a[2]), QMessageBox.StandardButton.Yes)[1])
    restored = make_window()
    qtbot.waitUntil(lambda: restored.info is not None, timeout=60_000)
    assert "Restore" in asked[0] or "restore" in asked[0].lower()
    assert [v.label for v in restored.compression.session.history.versions.values()] == ["v0 original", "v1 pruned 80%"]
    restored.compression.files.autosaved()
    qtbot.waitUntil(lambda: not crashed.exists())  # now kept as this studio's autosave
    assert "v1 pruned 80%" in (autosave_folder() / "project.json").read_text()


def test_two_studios_keep_their_own_autosaves(studio, run_sheet, qtbot):
    """Another running studio's autosave is neither replaced, removed nor offered."""
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) as other:
        theirs = autosave_folder(other.pid)
        theirs.mkdir(parents=True)
        (theirs / "project.json").write_text("{}")
        try:
            run_sheet(studio, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
            qtbot.waitUntil(lambda: (autosave_folder() / "project.json").is_file())
            assert crashed_autosave() is None
            studio.close()
            assert not autosave_folder().exists() and (theirs / "project.json").read_text() == "{}"
        finally:
            other.kill()
    assert crashed_autosave() == theirs  # once it has stopped, it is offered


def test_closing_normally_removes_the_autosave(studio, run_sheet, qtbot):
    window = studio
    run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    qtbot.waitUntil(lambda: (autosave_folder() / "project.json").is_file())
    window.close()
    assert not autosave_folder().exists()
