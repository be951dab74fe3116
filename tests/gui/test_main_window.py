"""The window through its real worker: opening every sample and format, errors, trust, drag-and-drop."""

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QTextDocumentFragment
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from studio.core.formats.samples import SAMPLE_MODELS
from studio.gui.common import dialogs
from studio.gui.common.placeholder import OPEN_HINT


def plain(label) -> str:
    return QTextDocumentFragment.fromHtml(label.text()).toPlainText()


def test_empty_window_says_what_to_do(make_window):
    window = make_window()
    assert window.table._placeholder.message == OPEN_HINT
    assert "will show here" in window.layer_panel._placeholder.message
    assert window.model_status.text() == "No model open"


@pytest.mark.parametrize("name", list(SAMPLE_MODELS))
def test_open_each_sample(make_window, load, name):
    window = make_window()
    info = load(window, f"sample:{name}")
    assert window.info is info and info.model.source == f"sample:{name}"
    assert window.table.model.rowCount() == len(info.layers) > 0
    assert f"{info.total.parameters:,} parameters" in window.model_status.text()
    assert window.model_panel.details.values["Format"].text() == info.model.format.label
    assert window.layer == info.layers[0].name == window.layer_panel.details.values["Name"].text()
    assert name in window.windowTitle()


@pytest.mark.parametrize("kind, format_", [("onnx", "onnx"), ("torchscript", "torchscript"), ("pt2", "torch-export")])
def test_open_files_of_each_format(make_window, load, model_files, kind, format_):
    window = make_window()
    info = load(window, model_files[kind])
    assert info.model.format.value == format_
    assert window.table.model.rowCount() == len(info.layers) >= 4
    structured = "✗ structured pruning — its file fixes the batch to 1" if kind == "onnx" else "✗ structured pruning — "
    assert structured in plain(window.model_panel.details.values["Operations"])


def test_drop_a_file_opens_it(make_window, qtbot, model_files):
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(model_files["onnx"]))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        QApplication.sendEvent(window, drop)
    assert window.info.model.source == str(model_files["onnx"])


def test_a_file_dragged_over_a_chart_reaches_the_window(make_window, monkeypatch, model_files):
    window = make_window()
    entered = []
    monkeypatch.setattr(window, "dragEnterEvent", lambda event: (entered.append(True), event.acceptProposedAction()))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(model_files["onnx"]))])
    for plot in (window.model_panel.histogram.plot, window.chart.plot, window.heatmap.plot):
        enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(plot.viewport(), enter)
    assert entered == [True, True, True]


def test_a_corrupt_file_shows_one_line_and_keeps_the_open_model(make_window, load, qtbot, tmp_path, monkeypatch):
    window = make_window()
    load(window, "sample:digits-cnn")
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07this is not a model" * 50)
    shown = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text, details=None: shown.append(text))
    window.open_model(str(bad))
    qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    (text,) = shown
    assert text.startswith(f"{bad}: ") and "\n" not in text
    assert window.info.model.source == "sample:digits-cnn"
    assert window.table.model.rowCount() == len(window.info.layers)


@pytest.mark.parametrize("answer", [QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.Cancel])
def test_a_pickled_module_asks_for_trust(make_window, qtbot, model_files, monkeypatch, answer):
    window = make_window()
    asked = []

    def exec_(box):
        asked.append((box.text(), box.informativeText(), box.button(QMessageBox.StandardButton.Yes).text()))
        return answer

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    window.open_model(str(model_files["pickled"]))
    qtbot.waitUntil(lambda: bool(asked), timeout=60_000)
    text, explanation, button = asked[0]
    assert str(model_files["pickled"]) in text and "runs code" in explanation and button == "Trust and open"
    if answer == QMessageBox.StandardButton.Yes:
        qtbot.waitUntil(lambda: window.info is not None, timeout=60_000)
        assert window.info.model.format.value == "pickled-module"
    else:
        qtbot.wait(200)
        assert window.info is None and not window.runner.running
    assert len(asked) == 1


def test_file_open_asks_for_a_file_and_opens_it(make_window, qtbot, model_files, monkeypatch):
    window = make_window()
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (asked.append(args[3]), (str(model_files["pt2"]), ""))[1])
    with qtbot.waitSignal(window.modelChanged, timeout=60_000) as opened:
        window.open_action.trigger()
    assert "*.onnx" in asked[0] and "*.pt2" in asked[0]
    assert opened.args[0].model.format.value == "torch-export"


def test_studio_path_opens_the_model_at_start(qtbot, monkeypatch):
    from studio.gui import app
    from studio.gui.main_window import MainWindow

    opened = []

    def event_loop(*_):
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        qtbot.waitUntil(lambda: window.info is not None, timeout=60_000)
        opened.append(window.info.model.source)
        window.close()
        window.deleteLater()
        return 0

    monkeypatch.setattr(QApplication, "exec", event_loop)
    assert app.run("sample:digits-cnn") == 0
    assert opened == ["sample:digits-cnn"]


def test_opening_a_model_does_not_widen_a_window_at_its_minimum(make_window, load, qtbot):
    """A minimum width that grows when panels fill resizes the whole window (relaid out, repainted)
    in the middle of opening a model: the panels keep the width they need from the start."""
    window = make_window()
    window.resize(window.minimumSizeHint().width(), window.height())
    qtbot.waitUntil(lambda: window.width() == window.minimumSizeHint().width())
    before = window.width()
    load(window, "sample:lenet-5")
    qtbot.waitUntil(lambda: not window.compression.session.running, timeout=30_000)
    assert window.minimumSizeHint().width() <= before and window.width() == before
