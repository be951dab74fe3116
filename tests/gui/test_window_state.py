"""What the window remembers between runs, and how fast and how plainly it starts."""

import os
import subprocess
import sys
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QCheckBox, QComboBox, QLineEdit

from studio.gui.main_window import settings


def test_geometry_splitters_and_recent_models_are_remembered(make_window, load, tmp_path):
    first = make_window()
    first.resize(1001, 640)  # above the minimum height: Model and Versions share the left column as tabs
    first.layer_dock.hide()
    first.sparsity_split.setSizes([300, 500])
    sizes = first.sparsity_split.sizes()
    load(first, "sample:digits-cnn")
    first.compression.run_dock.show()  # as a run leaves it
    first.close()
    assert str(tmp_path / "settings") in settings().fileName()  # never the user's real settings

    second = make_window()
    assert second.height() == 640  # (the width is clamped to the 800-pixel offscreen screen)
    assert second.layer_dock.isHidden() and not second.model_dock.isHidden()
    assert second.compression.run_dock.isHidden()  # nothing has run yet: no empty panel across a small screen
    assert second.sparsity_split.sizes() == sizes
    second.recent_menu.aboutToShow.emit()
    assert [a.text() for a in second.recent_menu.actions()] == ["sample:digits-cnn"]


def test_open_recent_and_open_sample_menus_open_models(make_window, qtbot):
    window = make_window()
    window.samples_menu.aboutToShow.emit()
    sample = next(a for a in window.samples_menu.actions() if a.text().startswith("digits-cnn"))
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        sample.trigger()
    window.recent_menu.aboutToShow.emit()
    with qtbot.waitSignal(window.modelChanged, timeout=60_000) as opened:
        window.recent_menu.actions()[0].trigger()
    assert opened.args[0].model.source == "sample:digits-cnn"


def test_cancel_keeps_the_open_model(make_window, load, qtbot):
    window = make_window()
    info = load(window, "sample:digits-cnn")
    window.open_model("sample:lenet-5")
    assert window.run_status.isVisible()
    qtbot.mouseClick(window.run_status.cancel, Qt.MouseButton.LeftButton)
    assert not window.run_status.isVisible() and not window.runner.running
    qtbot.wait(300)
    assert window.info is info and "Cancelled" in window.statusBar().currentMessage()


def test_every_control_has_a_tooltip(make_window, load):
    window = make_window()
    load(window, "sample:digits-cnn")
    controls = window.findChildren(QAbstractButton) + window.findChildren(QComboBox) + window.findChildren(QLineEdit)
    controls += window.findChildren(QCheckBox)
    missing = [
        f"{type(c).__name__} {c.text() if hasattr(c, 'text') else ''!r}"
        for c in controls
        if not c.toolTip() and not c.objectName().startswith("qt_") and c.isVisibleTo(window)
    ]
    assert not missing
    for action in window.menuBar().actions():
        for item in action.menu().actions():
            assert item.isSeparator() or item.menu() or item.statusTip(), item.text()


def test_the_window_shows_before_torch_is_imported():
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from studio.gui.main_window import MainWindow\n"
        "w = MainWindow(); w.show(); app.processEvents()\n"
        "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.stdout.strip() == "[]", out.stderr


def test_studio_reports_when_its_window_is_shown(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "STUDIO_BENCH_SHOWN": "1", "XDG_CONFIG_HOME": str(tmp_path)}
    start = time.time()
    out = subprocess.run([sys.executable, "-m", "studio"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    shown = float(out.stdout.split()[-1])
    assert start < shown < time.time()
