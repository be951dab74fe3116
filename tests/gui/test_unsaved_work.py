"""Nothing made is lost by a click: New, Open, Open Project and Quit ask to save the versions not
saved in a project (Save, Discard, Cancel); Cancel keeps everything."""

import pytest
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMessageBox

from studio.gui.versions.project_files import autosave_folder

Button = QMessageBox.StandardButton


class TitleBarClose(QCloseEvent):
    """The close the window system sends when the user clicks the title bar's ×."""

    def spontaneous(self) -> bool:
        return True


@pytest.fixture
def answer(monkeypatch):
    """answer(button): the questions that follow are answered so; answer.asked holds their texts."""
    asked = []

    def set_answer(button) -> None:
        monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: (asked.append(text), button)[1])

    set_answer.asked = asked
    return set_answer


@pytest.fixture
def worked(studio, run_sheet, qtbot):
    """The studio with a version made and not saved."""
    run_sheet(studio, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    qtbot.waitUntil(lambda: (autosave_folder() / "project.json").is_file())  # autosaved, which is not saved
    return studio


def test_cancel_keeps_everything(worked, answer):
    window, session = worked, worked.compression.session
    answer(Button.Cancel)
    window.quit_action.trigger()
    close = TitleBarClose()
    window.closeEvent(close)
    window.new_action.trigger()
    window.open_action.trigger()  # the file dialog never shows (it would fail the test)
    window.compression.open_project_action.trigger()
    window.samples_menu.aboutToShow.emit()
    window.samples_menu.actions()[0].trigger()
    assert len(answer.asked) == 6
    assert "Save them before quitting?" in answer.asked[0] and "before opening another model?" in answer.asked[3]
    assert window.isVisible() and not close.isAccepted()
    assert list(session.history.versions) == [0, 1] and window.info.model is session.version.model
    assert not window.runner.running and (autosave_folder() / "project.json").is_file()


def test_discard_quits_and_lets_the_work_go(worked, answer):
    answer(Button.Discard)
    worked.quit_action.trigger()
    assert not worked.isVisible() and len(answer.asked) == 1
    assert not autosave_folder().exists()


def test_save_saves_in_a_new_folder_then_quits(worked, answer, choose_folder, tmp_path):
    answer(Button.Save)
    folder = tmp_path / "projects" / "digits"  # not made yet
    choose_folder(folder)
    worked.closeEvent(close := TitleBarClose())
    assert close.isAccepted() and (folder / "project.json").is_file() and '"v1 pruned 80%"' in (folder / "project.json").read_text()


def test_cancelling_the_save_cancels_the_quit(worked, answer, monkeypatch):
    from studio.gui.common.folder_dialog import NewFolderDialog

    answer(Button.Save)
    monkeypatch.setattr(NewFolderDialog, "exec", lambda dialog: 0)  # the folder dialog's Cancel
    worked.quit_action.trigger()
    assert worked.isVisible() and len(worked.compression.session.history.versions) == 2


def test_nothing_is_asked_when_nothing_would_be_lost(worked, choose_folder, tmp_path, qtbot, make_window, load):
    window = worked
    choose_folder(tmp_path / "saved")
    window.compression.save_project_action.trigger()
    qtbot.waitUntil(lambda: "Saved the project" in window.statusBar().currentMessage(), timeout=60_000)
    window.closeEvent(close := TitleBarClose())  # saved: any question would fail the test
    assert close.isAccepted()

    other = make_window()
    load(other, "sample:digits-cnn")  # only the original: nothing made yet
    other.quit_action.trigger()
    assert not other.isVisible()


def test_new_after_discard_empties_the_window_and_keeps_the_data_choice(worked, answer, qtbot, load):
    window = worked
    c = window.compression
    answer(Button.Discard)
    with qtbot.waitSignal(window.modelClosed):
        window.new_action.trigger()
    assert window.info is None and c.session.history is None and window.model_status.text() == "No model open"
    assert window.windowTitle() == "Compression Studio"
    assert window.table._placeholder.message and window.model_panel._placeholder.message
    assert c.sheet_holder.message
    qtbot.waitUntil(lambda: bool(c.versions._placeholder.message))  # the tree refreshes on the next turn
    assert not c.export_action.isEnabled() and not c.actions["prune"].isEnabled() and not c.save_project_action.isEnabled()
    assert c.session.data == "sample:digits"
    qtbot.waitUntil(lambda: not autosave_folder().exists())  # never offered back
    window.new_action.trigger()  # nothing open: nothing asked
    assert len(answer.asked) == 1
    load(window, "sample:lenet-5")
    assert list(c.session.history.versions) == [0] and c.actions["prune"].isEnabled()
