"""The folder dialog of Save Project and Export Report: a folder typed in that does not exist yet is
made (Qt's own dialog said "Directory not found")."""

import shutil

from PySide6.QtWidgets import QDialog, QLineEdit

from studio.gui.common import dialogs
from studio.gui.common.folder_dialog import NewFolderDialog


def typed(qtbot, start, text) -> NewFolderDialog:
    dialog = NewFolderDialog(None, "Save the project in a folder", str(start))
    qtbot.addWidget(dialog)
    dialog.findChild(QLineEdit, "fileNameEdit").setText(text)
    dialog.accept()
    return dialog


def test_a_new_folder_typed_in_is_made(qtbot, tmp_path):
    dialog = typed(qtbot, tmp_path, "projects/first")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert (tmp_path / "projects" / "first").is_dir() and dialog.selectedFiles() == [str(tmp_path / "projects" / "first")]


def test_a_folder_that_cannot_be_made_is_said_and_the_dialog_stays(qtbot, tmp_path, monkeypatch):
    (tmp_path / "notes").write_text("a file, not a folder")
    shown = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text, details=None: shown.append(text))
    dialog = typed(qtbot, tmp_path, "notes/project")
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert len(shown) == 1 and shown[0].startswith(str(tmp_path / "notes" / "project"))


def test_save_project_offers_a_new_folder_beside_the_model(make_window, load, model_files, qtbot, monkeypatch, tmp_path):
    model = tmp_path / "digits.onnx"
    shutil.copy(model_files["onnx"], model)
    window = make_window()
    load(window, model)
    monkeypatch.setattr(NewFolderDialog, "exec", lambda dialog: (dialog.accept(), dialog.result())[1])  # the user takes what is offered
    window.compression.save_project_action.trigger()
    qtbot.waitUntil(lambda: "Saved the project" in window.statusBar().currentMessage(), timeout=60_000)
    assert (tmp_path / "digits-project" / "project.json").is_file()
