"""Faults in the window: running out of memory, a full disk, and a studio killed mid-operation,
reopened from its autosave."""

import errno
import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import LOAD_TIMEOUT_MS, RUN_TIMEOUT_MS
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.gui.common import dialogs as dialog_module
from studio.gui.versions.project_files import autosave_folder


@pytest.fixture
def dialogs(monkeypatch):
    shown = []
    monkeypatch.setattr(dialog_module, "show_error", lambda parent, title, text, details=None: shown.append(text))
    return shown


def test_out_of_memory_in_a_job_is_a_dialog_and_the_window_lives_on(studio, run_sheet, qtbot, monkeypatch, dialogs):
    from studio.core.project import steps

    window, session = studio, studio.compression.session
    before = session.version
    prune = steps.OPS["prune"]

    def exhausted(*args, **kwargs):
        raise MemoryError()
        yield

    monkeypatch.setitem(steps.OPS, "prune", steps.Op("prune", prune.fields, exhausted, prune.describe))
    window.compression.open_sheet("prune").run_button.click()
    qtbot.waitUntil(lambda: bool(dialogs) and not session.running, timeout=RUN_TIMEOUT_MS)
    assert "ran out of memory" in dialogs[0] and "\n" not in dialogs[0]
    assert list(session.history.versions) == [0] and session.version is before and window.info.model is before.model
    monkeypatch.setitem(steps.OPS, "prune", prune)  # memory is back: the same window carries on
    added = run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    assert [v.id for v in added] == [1]


def test_a_job_process_killed_by_the_system_is_a_dialog_and_the_window_lives_on(studio, run_sheet, qtbot, monkeypatch, dialogs):
    """Jobs run in a child process: the out-of-memory killer takes that process, not the window."""
    from studio.core.process.jobs import Progress
    from studio.core.project import steps

    window, session = studio, studio.compression.session
    before, pids = session.version, []
    prune = steps.OPS["prune"]

    def killed(*args, **kwargs):
        yield Progress(0, 1, "using all the memory", {"pid": os.getpid()})
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setitem(steps.OPS, "prune", steps.Op("prune", prune.fields, killed, prune.describe))
    session.runner.progress.connect(lambda event: pids.append(event.metrics.get("pid")))
    window.compression.open_sheet("prune").run_button.click()
    qtbot.waitUntil(lambda: bool(dialogs) and not session.running, timeout=RUN_TIMEOUT_MS)
    assert os.getpid() not in pids and any(pids)
    assert "ran out of memory" in dialogs[0] and "\n" not in dialogs[0]
    assert list(session.history.versions) == [0] and session.version is before and window.info.model is before.model
    monkeypatch.setitem(steps.OPS, "prune", prune)
    added = run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    assert [v.id for v in added] == [1]


def test_out_of_memory_while_opening_keeps_the_open_model(studio, qtbot, monkeypatch, dialogs):
    from studio.core.project import analysis

    def exhausted(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(analysis, "load_model", exhausted)
    studio.open_model("sample:lenet-5")
    qtbot.waitUntil(lambda: bool(dialogs), timeout=LOAD_TIMEOUT_MS)
    assert dialogs[0].startswith("sample:lenet-5: ran out of memory")
    assert studio.info.model.source == "sample:digits-cnn"


def test_a_full_disk_on_save_keeps_the_project_that_was_there(studio, run_sheet, qtbot, monkeypatch, tmp_path, dialogs, choose_folder):
    window = studio
    run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    folder = tmp_path / "project"
    folder.mkdir()
    choose_folder(folder)
    window.compression.files.save_project()
    qtbot.waitUntil(lambda: "Saved the project" in window.statusBar().currentMessage(), timeout=60_000)
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    run_sheet(window, "quantize")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    window.compression.files.save_project()
    qtbot.waitUntil(lambda: bool(dialogs), timeout=60_000)  # the save runs on its own thread
    assert len(dialogs) == 1 and "No space left on device" in dialogs[0] and "\n" not in dialogs[0]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == saved, "the project saved before is untouched"
    assert len(window.compression.session.history.versions) == 3


KILLED_MID_RUN = """
import os, signal, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
app.setApplicationName(sys.argv[1])  # this test's, so that both look in the same autosave folders
app.setOrganizationName(sys.argv[2])
print(os.getpid(), flush=True)  # its autosave folder's name
from studio.gui.main_window import MainWindow
from studio.gui.versions.project_files import autosave_folder
window = MainWindow()
window.show()
session = window.compression.session
stage = []

def step():
    v = session.version
    if not stage and v is not None and v.metrics and not session.running:
        stage.append("pruning")
        session.run([("prune", {"sparsity": 0.5, "method": "magnitude"})])
    elif stage == ["pruning"] and len(session.history.versions) == 2 and not session.running:
        project = autosave_folder() / "project.json"
        if project.is_file() and '"v1 pruned' in project.read_text():
            stage.append("fine-tuning")
            session.run([("finetune", {"epochs": 50})])

def progress(event):
    if stage[-1:] == ["fine-tuning"] and "loss" in event.metrics:
        os.kill(os.getpid(), signal.SIGKILL)  # as a crash, a power cut or `kill -9` would

session.runner.progress.connect(progress)
timer = QTimer(interval=100)
timer.timeout.connect(step)
timer.start()
window.open_model("sample:digits-cnn")
QTimer.singleShot(240_000, lambda: sys.exit(3))
app.exec()
"""


def test_killed_mid_operation_the_next_start_restores_the_autosave(make_window, qtbot, monkeypatch, tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen"}
    names = [QApplication.applicationName(), QApplication.organizationName()]
    done = subprocess.run([sys.executable, "-c", KILLED_MID_RUN, *names], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr
    folder = autosave_folder(int(done.stdout.split()[0]))
    assert [v["label"] for v in json.loads((folder / "project.json").read_text())["versions"]] == ["v0 original", "v1 pruned 50%"]
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: (asked.append(a[2]), QMessageBox.StandardButton.Yes)[1])
    window = make_window()
    qtbot.waitUntil(lambda: window.info is not None, timeout=LOAD_TIMEOUT_MS)
    assert "Restore" in asked[0]
    session = window.compression.session
    assert [v.label for v in session.history.versions.values()] == ["v0 original", "v1 pruned 50%"]
    assert session.version.metrics["sparsity"] > 0.4 and window.info.model is session.version.model
