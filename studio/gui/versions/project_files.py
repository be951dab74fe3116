"""File → Save recipe, Save project, Open project, and the autosave: the project is written to a folder
under the application's data location after every finished operation, removed when the window closes,
and offered back at the next start when a session ended without closing (a crash). Each running studio
autosaves in a folder named for its process id, so two windows open at once never overwrite or remove
each other's autosave, and a live studio's is never offered. Saves and autosaves
run on a thread of their own, one at a time, so that writing a version's weights never freezes the
window; each writes a snapshot of the versions taken when it was asked for."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from studio.gui.common import dialogs
from studio.gui.common.folder_dialog import NewFolderDialog

if TYPE_CHECKING:
    from studio.gui.run.session import Session

AUTOSAVE_DELAY_MS = 500


def autosaves() -> Path:
    """Where every studio's autosave folder lies."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)) / "autosave"


def autosave_folder(pid: int | None = None) -> Path:
    """The autosave of the studio running as process `pid` (this one by default)."""
    return autosaves() / str(os.getpid() if pid is None else pid)


class ProjectFiles(QObject):
    _autosaveFailed = Signal(str)  # from the saving thread
    _projectSaved = Signal(object, object, object, int, str)  # folder, history, labels, versions written, why it failed ("" if saved)
    kept = Signal(object, object)  # a history now kept in a project folder (saved or opened), {vid: label} as kept

    def __init__(self, window, session: Session):
        super().__init__(window)
        self.window, self.session = window, session
        self.folder: Path | None = None  # where this history was last saved or opened from
        self._folder_history = self._autosaved_history = None  # the histories those folders hold
        self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosave")
        self._last_save: Future | None = None
        # several changes close together: one save, once the window has drawn the new version (saving
        # beside the drawing would make both compete for Python's lock)
        self._save_soon = QTimer(self, singleShot=True, interval=AUTOSAVE_DELAY_MS)
        self._save_soon.timeout.connect(self.autosave)
        self._autosaveFailed.connect(lambda reason: dialogs.show_error(self.window, "Could not autosave", reason))
        self._projectSaved.connect(self._saved)
        session.runFinished.connect(lambda _: self._save_soon.start())
        session.versionsChanged.connect(self.autosave_if_edited)

    # ---- recipe and project ---------------------------------------------------------------------

    def save_recipe(self) -> None:
        version = self.session.version
        path, _ = QFileDialog.getSaveFileName(self.window, "Save recipe", f"{file_stem(version.model.source)}-v{version.id}.yaml", "Recipes (*.yaml)")
        if not path:
            return
        recipe = self.session.history.recipe(version.id, self.session.data, self.session.device)
        header = f"# {version.label}: replay with `studio run {Path(path).name}`\n"
        try:
            Path(path).write_text(header + recipe.to_yaml())
        except OSError as e:
            dialogs.show_error(self.window, "Could not save the recipe", f"{path}: {e.strerror}")
            return
        self.window.statusBar().showMessage(f"Saved the recipe of {version.label} to {path}", 8000)

    def save_project(self, wait: bool = False) -> bool:
        """Ask for a folder (a new one is made) and save the project there, on the saving thread.
        With `wait`, return once it is written: whether it was (False too if the user cancelled)."""
        history = self.session.history
        source = history.versions[0].model.source
        start, name = (str(self.folder), "") if self.folder else (str(work_folder(source)), f"{file_stem(source)}-project")
        folder = NewFolderDialog.choose(self.window, "Save the project in a folder", start, name)
        if not folder:
            return False
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            crowded = (folder, history) != (self.folder, self._folder_history) and any(folder.iterdir())
        except OSError as e:
            dialogs.show_error(self.window, "Could not save the project", f"{folder}: {e.strerror or e}")
            return False
        if crowded:
            dialogs.show_error(self.window, "Choose an empty folder", f"{folder}: holds other files; a project needs a folder of its own")
            return False
        self.window.statusBar().showMessage(f"Saving the project in {folder}…")
        labels = {vid: v.label for vid, v in history.versions.items()}
        self._last_save = saving = self._saver.submit(self._save, folder, self._snapshot(), history, labels)
        if wait:
            return self._saved(*saving.result())
        saving.add_done_callback(lambda done: self._projectSaved.emit(*done.result()))
        return True

    def _save(self, folder: Path, project, history, labels: dict) -> tuple:
        from studio.core.errors import StudioError
        from studio.core.project.project_file import save_project

        try:
            save_project(folder, project)
        except (OSError, StudioError) as e:
            return folder, history, labels, 0, f"{folder}: {e}"
        return folder, history, labels, len(project.history.versions), ""

    def _saved(self, folder: Path, history, labels: dict, versions: int, failure: str) -> bool:
        if failure:
            self.window.statusBar().clearMessage()
            dialogs.show_error(self.window, "Could not save the project", failure)
            return False
        self.folder, self._folder_history = folder, history
        self.kept.emit(history, labels)
        self.window.statusBar().showMessage(f"Saved the project ({versions} versions) in {folder}", 8000)
        return True

    def open_project(self, folder: str | Path | None = None, trust: bool = False) -> None:
        folder = folder or QFileDialog.getExistingDirectory(self.window, "Open a project folder")
        if folder:
            self.session.start(f"opening the project {folder}", lambda project: self._opened(Path(folder), project),
                               _open_job, Path(folder), trust, on_error=lambda e: self._ask_trust(folder, e))

    def _ask_trust(self, folder, error: Exception) -> bool:
        from studio.core.errors import TrustRequired

        if not isinstance(error, TrustRequired):
            return False
        if dialogs.ask_trust(self.window, str(folder), str(error)):
            self.open_project(folder, trust=True)
        return True

    def _opened(self, folder: Path, project) -> None:
        self.session.restore(project)
        autosaved = folder.parent == autosaves()
        if not autosaved:  # (restored from an autosave, the work is still to be saved)
            self.folder, self._folder_history = folder, project.history
            self.kept.emit(project.history, {vid: v.label for vid, v in project.history.versions.items()})
        self.autosave()
        if autosaved and folder != autosave_folder():  # a crashed studio's, restored: now autosaved as this one's
            saved = self._last_save
            self._saver.submit(lambda: saved.result() and shutil.rmtree(folder, ignore_errors=True))

    # ---- autosave -------------------------------------------------------------------------------

    def autosave(self) -> None:
        """Write the versions to the autosave folder, on the autosave thread (see autosaved())."""
        history = self.session.history
        if history is None:
            return
        fresh = history is not self._autosaved_history  # another model's versions: its files must not be mistaken for these
        self._autosaved_history = history
        self._last_save = self._saver.submit(self._autosave, autosave_folder(), self._snapshot(), fresh)

    def _snapshot(self):
        """The project as it is now: the user may rename or delete versions while it is written."""
        project, history = self.session.project(), self.session.history
        return replace(project, history=replace(history, versions=dict(history.versions)), charts=dict(project.charts),
                       profiles=dict(project.profiles))

    def _autosave(self, folder: Path, project, fresh: bool) -> bool:
        from studio.core.errors import StudioError
        from studio.core.project.project_file import save_project

        if fresh:
            shutil.rmtree(folder, ignore_errors=True)
        try:
            save_project(folder, project)
        except (OSError, StudioError) as e:
            self._autosaveFailed.emit(f"{folder}: {e}")
            return False
        return True

    def autosaved(self) -> None:
        """Wait until the saves and autosaves asked for so far are on disk."""
        if self._save_soon.isActive():
            self._save_soon.stop()
            self.autosave()
        if self._last_save is not None:
            self._last_save.result()

    def autosave_if_edited(self) -> None:
        """Renames, deletions and profiles are kept too; measuring the original alone is not worth a save."""
        if self.session.history is not None and len(self.session.history.versions) > 1 and not self.session.running:
            self._save_soon.start()

    def forget(self) -> None:
        """The work was closed (File → New): its autosave goes too, never to be offered back."""
        self._save_soon.stop()
        self._autosaved_history = None
        self._last_save = self._saver.submit(shutil.rmtree, autosave_folder(), ignore_errors=True)

    def discard_autosave(self) -> None:
        """The window closes normally: nothing to restore next time."""
        self._save_soon.stop()
        self._saver.shutdown(wait=True)  # a save under way finishes first, and none starts after
        shutil.rmtree(autosave_folder(), ignore_errors=True)

    def offer_restore(self) -> None:
        """At start: the newest autosave of a studio no longer running was left by a session that
        crashed. Once restored (it is then autosaved as this studio's) or discarded, it is removed; an
        older one is offered at the next start."""
        folder = crashed_autosave()
        if folder is None:
            return
        answer = QMessageBox.question(self.window, "Restore your work?",
                                      "The studio closed without saving last time. Restore the versions you had made?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard)
        if answer == QMessageBox.StandardButton.Yes:
            self.open_project(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _open_job(folder: Path, trust: bool, cancel):
    from studio.core.process.jobs import Progress
    from studio.core.project.project_file import open_project

    yield Progress(0, 1, f"opening {folder.name}")
    return open_project(folder, trust=trust)


def crashed_autosave() -> Path | None:
    """The newest autosave whose studio is no longer running, if any."""
    try:
        folders = [f for f in autosaves().iterdir() if f.name.isdigit() and not _alive(int(f.name))]
    except OSError:
        return None
    saved = [((f / "project.json").stat().st_mtime, f) for f in folders if (f / "project.json").is_file()]
    return max(saved)[1] if saved else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def work_folder(source: str) -> Path:
    """Where files made from a model go at first: its file's folder, or Documents for a sample."""
    if source.startswith("sample:") or not Path(source).parent.is_dir():
        return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation))
    return Path(source).resolve().parent


def file_stem(source: str) -> str:
    """A model's name for files made from it: sample:lenet-5 → lenet-5, /a/b/net.onnx → net."""
    return Path(source.removeprefix("sample:")).stem
