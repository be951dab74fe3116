"""Renaming and deleting versions as commands on an undo stack (Edit → Undo, Redo): undoing a
deletion puts the versions back with their metrics and charts. A new model or project starts a new
stack, since the old commands are about versions that are gone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand, QUndoStack

if TYPE_CHECKING:
    from studio.core.project.workspace import Removed
    from studio.gui.run.session import Session


class RenameVersion(QUndoCommand):
    def __init__(self, session: Session, vid: int, label: str):
        super().__init__()
        self.session, self.vid, self.old, self.new = session, vid, session.history.versions[vid].label, label
        self.setText(f"Rename v{vid} to “{_short(label)}”")

    def redo(self) -> None:
        self.session.rename(self.vid, self.new)

    def undo(self) -> None:
        self.session.rename(self.vid, self.old)


class DeleteVersions(QUndoCommand):
    def __init__(self, session: Session, vid: int):
        super().__init__()
        self.session, self.vid = session, vid
        self.removed: Removed | None = None
        made = len(session.family(vid)) - 1
        label = session.history.versions[vid].label
        self.setText(f"Delete “{_short(label)}”" + (f" and {made} version{'s' * (made > 1)} made from it" if made else ""))

    def redo(self) -> None:
        self.removed = self.session.delete(self.vid)

    def undo(self) -> None:
        self.session.undelete(self.removed)


class VersionEdits(QObject):
    def __init__(self, session: Session, parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.stack = QUndoStack(self)
        self._history = None  # the history the commands on the stack edit
        session.versionsChanged.connect(self._follow)

    def rename(self, vid: int, label: str) -> None:
        if label != self.session.history.versions[vid].label:
            self.stack.push(RenameVersion(self.session, vid, label))

    def delete(self, vid: int) -> None:
        self.stack.push(DeleteVersions(self.session, vid))

    def _follow(self) -> None:
        if self.session.history is not self._history:
            self._history = self.session.history
            self.stack.clear()


def _short(label: str, length: int = 30) -> str:
    """A label short enough for a menu item ("Undo Delete …")."""
    return label if len(label) <= length else label[: length - 1] + "…"
