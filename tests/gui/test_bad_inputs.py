"""The generated corpus of broken inputs through the window: a dialog with one line for each, and
the model, versions and files that were open stay as they were."""

import html
import re

from bad_inputs import BAD_DATA, OPEN_WITH_NOTE, REFUSED, bad_data, bad_models
from conftest import LOAD_TIMEOUT_MS

from studio.gui.common import dialogs


def _dialogs(monkeypatch):
    shown = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text, details=None: shown.append(text))
    return shown


def test_every_refused_model_is_a_one_line_dialog_and_the_open_model_stays(studio, load, qtbot, monkeypatch, tmp_path):
    window, shown = studio, _dialogs(monkeypatch)
    models = bad_models(tmp_path / "models")
    for i, name in enumerate(REFUSED):
        window.open_model(str(models[name]))
        qtbot.waitUntil(lambda: len(shown) > i, timeout=LOAD_TIMEOUT_MS)
        assert shown[i].startswith(str(models[name])) and "\n" not in shown[i], shown[i]
        assert re.search(REFUSED[name], shown[i]), shown[i]
        assert window.info.model.source == "sample:digits-cnn"
    assert list(window.compression.session.history.versions) == [0]
    for name in OPEN_WITH_NOTE:  # these open, and the summary says what is wrong
        load(window, models[name])
        notes = html.unescape(window.model_panel.notes.text())
        assert re.search(OPEN_WITH_NOTE[name], notes), notes
        # the digits data chosen before does not fit these 4-input models: a line, not a dialog
        qtbot.waitUntil(lambda: "do not fit the model's input [4]" in window.statusBar().currentMessage(), timeout=LOAD_TIMEOUT_MS)
        assert "do not fit" in window.compression.run_dock.widget().message.text()
    assert len(shown) == len(REFUSED)


def test_every_bad_data_set_is_a_one_line_dialog_and_the_versions_stay(studio, qtbot, monkeypatch, tmp_path):
    window, shown = studio, _dialogs(monkeypatch)
    session = window.compression.session
    v0 = session.version
    metrics = dict(v0.metrics)
    for i, (name, path) in enumerate(bad_data(tmp_path / "data").items()):
        session.set_data(str(path))
        qtbot.waitUntil(lambda: len(shown) > i and not session.running, timeout=LOAD_TIMEOUT_MS)
        assert name in shown[i] and re.search(BAD_DATA[name], shown[i]) and "\n" not in shown[i], shown[i]
        assert session.version is v0 and v0.metrics == metrics and list(session.history.versions) == [0]


def test_a_broken_project_is_a_one_line_dialog_and_the_open_versions_stay(studio, qtbot, monkeypatch, tmp_path):
    window, shown = studio, _dialogs(monkeypatch)
    session = window.compression.session
    history = session.history
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "project.json").write_text("{broken")
    window.compression.files.open_project(tmp_path / "p")
    qtbot.waitUntil(lambda: bool(shown) and not session.running, timeout=LOAD_TIMEOUT_MS)
    assert "project.json is damaged" in shown[0] and "\n" not in shown[0]
    assert session.history is history and window.info.model is session.version.model
