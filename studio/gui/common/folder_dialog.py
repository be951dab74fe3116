"""Choosing a folder to write into, a new one included. Qt's own folder dialog refuses a name that
does not exist yet ("Directory not found"); this one makes the folder (a platform's native dialog,
where there is one, has its own New Folder button)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from studio.gui.common import dialogs


class NewFolderDialog(QFileDialog):
    def __init__(self, parent: QWidget | None, title: str, start: str = ""):
        super().__init__(parent, title, start)
        self.setFileMode(QFileDialog.FileMode.Directory)
        self.setOption(QFileDialog.Option.ShowDirsOnly)
        self.setLabelText(QFileDialog.DialogLabel.Accept, "Choose")

    def accept(self) -> None:
        chosen = self.selectedFiles()
        if chosen and not Path(chosen[0]).exists():
            try:
                Path(chosen[0]).mkdir(parents=True)
            except OSError as e:
                dialogs.show_error(self, "Could not make the folder", f"{chosen[0]}: {e.strerror or e}")
                return
        super().accept()

    @staticmethod
    def choose(parent: QWidget | None, title: str, start: str = "", name: str = "") -> str:
        """The folder chosen (made if it was typed in new), or "" if the user cancelled; `name`, a new
        folder's name in `start` offered at first."""
        dialog = NewFolderDialog(parent, title, start)
        if name:
            dialog.selectFile(name)
        try:
            return dialog.selectedFiles()[0] if dialog.exec() else ""
        finally:
            dialog.deleteLater()
