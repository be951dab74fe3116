"""Unsaved work: versions made, renamed or deleted since the project was last saved or opened. Before
it would be lost (New, Open, Open Project, Quit) the user is asked: Save, Discard or Cancel. The
autosave is no substitute: it is removed when the studio closes normally."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QWidget

if TYPE_CHECKING:
    from studio.gui.run.session import Session
    from studio.gui.versions.project_files import ProjectFiles


class UnsavedWork(QObject):
    def __init__(self, window: QWidget, session: Session, files: ProjectFiles):
        super().__init__(window)
        self.window, self.session, self.files = window, session, files
        self._kept: tuple[object, dict] | None = None  # the history last saved or opened, {vid: label} as it was
        files.kept.connect(lambda history, labels: setattr(self, "_kept", (history, labels)))

    def unsaved(self) -> bool:
        history = self.session.history
        if history is None:
            return False
        if self._kept is not None and self._kept[0] is history:
            return self._kept[1] != {vid: v.label for vid, v in history.versions.items()}
        return len(history.versions) > 1  # a model opened from its file: the versions made since

    def ask(self, doing: str) -> bool:
        """Whether `doing` ("quitting") may go on: nothing unsaved, or the user saved it or chose to
        discard it; Cancel (or closing the question, or cancelling the save) keeps everything."""
        if not self.unsaved():
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self.window, "Save your versions?",
            f"The versions you made are not saved in a project. Save them before {doing}?\n\n"
            "Discard lets them go; Cancel keeps everything as it is.",
            buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
        if answer == buttons.Save:
            return self.files.save_project(wait=True)
        return answer == buttons.Discard
