"""The window's lifecycle in one fixture; model files of every format; dialogs that never block."""

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import shiboken6  # noqa: E402
from PySide6.QtCore import QEvent, QSettings  # noqa: E402
from PySide6.QtGui import QDesktopServices  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QLineEdit, QMessageBox  # noqa: E402

LOAD_TIMEOUT_MS = 60_000  # a shared 2-core machine loads torch and a sample in a few seconds


@pytest.fixture(autouse=True)
def _settings_in_tmp(tmp_path):
    """The window's QSettings (IniFormat, user scope) go to a temporary folder, never the real one."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


@pytest.fixture(autouse=True)
def _data_in_tmp(tmp_path, monkeypatch):
    """The autosave (AppDataLocation, under XDG_DATA_HOME) goes to a temporary folder, never the real one."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture(autouse=True)
def _dialogs_fail(monkeypatch):
    """A dialog the test did not ask for fails it instead of waiting for a click."""

    def unexpected(*args, **kwargs):
        raise AssertionError(f"unexpected dialog: {args[1:]}")

    for name in ("exec", "warning", "critical", "information", "question", "about"):
        monkeypatch.setattr(QMessageBox, name, unexpected)
    for name in ("getOpenFileName", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, unexpected)
    monkeypatch.setattr(QInputDialog, "getText", unexpected)
    monkeypatch.setattr(QDesktopServices, "openUrl", unexpected)
    from studio.gui.common.folder_dialog import NewFolderDialog

    monkeypatch.setattr(NewFolderDialog, "exec", lambda dialog: unexpected(dialog, dialog.windowTitle()))


@pytest.fixture
def choose_folder(monkeypatch):
    """choose_folder(path): the folder dialogs that follow (Save Project, Export Report) are answered
    with `path`, typed into the real dialog as a user would, so a folder not made yet is made by it."""
    from studio.gui.common.folder_dialog import NewFolderDialog

    def choose(path) -> None:
        def exec_(dialog):
            dialog.findChild(QLineEdit, "fileNameEdit").setText(str(path))  # Qt's own dialog: offscreen has no native one
            dialog.accept()
            return dialog.result()

        monkeypatch.setattr(NewFolderDialog, "exec", exec_)

    return choose


def _windows() -> dict[int, str]:
    return {shiboken6.getCppPointer(w)[0]: f"{type(w).__name__} {w.objectName()!r}" for w in QApplication.topLevelWidgets()}


def _close(windows: list) -> None:
    for window in windows:
        window.close()
        window.deleteLater()
    windows.clear()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    gc.collect()  # pyqtgraph's parentless context menus go with their Python owners


@pytest.fixture
def make_window(qtbot):
    """Creates main windows (shown, settings in tmp); closes them after the test and fails it if any
    top-level widget is left behind."""
    from studio.gui.main_window import MainWindow

    before = _windows()
    made = []

    def make() -> MainWindow:
        window = MainWindow()
        with qtbot.waitExposed(window):
            window.show()
        made.append(window)
        return window

    yield make
    _close(made)
    leaked = [name for ptr, name in _windows().items() if ptr not in before]
    assert not leaked, f"top-level widgets left after the test: {leaked}"


@pytest.fixture
def load(qtbot):
    """load(window, source): open through the real window and its worker; returns the ModelInfo shown."""

    def load(window, source: str, trust: bool = False):
        with qtbot.waitSignal(window.modelChanged, timeout=LOAD_TIMEOUT_MS) as blocker:
            window.open_model(str(source), trust=trust)
        return blocker.args[0]

    return load


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    """The digits sample saved in every format a user may bring."""
    import torch

    from studio.core.formats.samples import build_sample, sample_input

    d = tmp_path_factory.mktemp("models")
    model, x = build_sample("digits-cnn"), sample_input("digits-cnn", 1)
    paths = {
        "onnx": d / "digits.onnx",
        "torchscript": d / "digits.ts",
        "pt2": d / "digits.pt2",
        "pickled": d / "digits-module.pt",
    }
    torch.onnx.export(model, (x,), paths["onnx"], dynamo=False)
    torch.jit.save(torch.jit.script(model), paths["torchscript"])
    torch.export.save(torch.export.export(model, (x,)), paths["pt2"])
    torch.save(model, paths["pickled"])
    return paths


RUN_TIMEOUT_MS = 120_000  # one epoch on the digits sample, on a shared 2-core machine


@pytest.fixture
def studio(make_window, load, qtbot):
    """A window with sample:digits-cnn open on sample:digits, its original measured."""
    window = make_window()
    load(window, "sample:digits-cnn")
    session = window.compression.session
    qtbot.waitUntil(lambda: bool(session.version.metrics) and not session.running, timeout=LOAD_TIMEOUT_MS)
    return window


@pytest.fixture
def run_sheet(qtbot):
    """run_sheet(window, "prune", configure): set up a Compress sheet, click Run, wait until the new
    version is made and shown; returns the versions the run added."""
    from PySide6.QtCore import Qt

    def run(window, name: str, configure=lambda sheet: None):
        sheet = window.compression.open_sheet(name)
        configure(sheet)
        session = window.compression.session
        added = []
        session.runFinished.connect(added.extend)
        with qtbot.waitSignals([session.runFinished, window.modelChanged], timeout=RUN_TIMEOUT_MS):
            qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
        session.runFinished.disconnect(added.extend)
        assert window.info.model is session.version.model is added[-1].model
        return added

    return run
