"""What the data picker says of the chosen data before a run: that it does not suit the model (the
original could not be measured on it: the session's sentence, whole), or that its labels name one
class only, so that any accuracy on it means nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from studio.gui.run.worker import JobRunner

if TYPE_CHECKING:
    from studio.gui.compress.data_picker import DataPicker
    from studio.gui.run.session import Session


class DataCheck(QObject):
    def __init__(self, session: Session, picker: DataPicker, parent: QObject | None = None):
        super().__init__(parent)
        self.session, self.picker = session, picker
        self._classes: dict[str, list[str]] = {}  # spec key → the names of its classes (labeled data only)
        self.runner = JobRunner(self)  # counts the classes off the GUI thread (the data is loaded by then: quick)
        self.runner.finished.connect(self._counted)
        session.dataNoted.connect(picker.set_status)
        session.versionsChanged.connect(self._check)

    def _check(self) -> None:
        """Once the original is measured on labeled data, say so if that data has one class only."""
        from studio.core.project.workspace import spec_key

        history, spec = self.session.history, self.session.data
        if history is None or spec is None or "accuracy" not in history.versions[0].metrics:
            return
        key = spec_key(spec)
        if key in self._classes:
            self._say(spec, self._classes[key])
        elif not self.runner.running:
            self.runner.start(_classes_job, spec)

    def _counted(self, result: tuple[str, list[str]]) -> None:
        key, classes = result
        self._classes[key] = classes
        self._check()

    def _say(self, spec, classes: list[str]) -> None:
        from studio.core.project.workspace import spec_name

        if len(classes) == 1:
            self.picker.set_status(one_class(spec_name(spec), classes[0]))


def one_class(name: str, label: str) -> str:
    return (f"{name} has one class only ({label}): accuracy on it means nothing, as a model that always answers "
            f"{label} scores 100 %. Choose data with two classes or more, or tick “no labels” to measure how often "
            f"versions agree instead.")


def _classes_job(spec, cancel):
    """The names of the classes the labels of `spec` use (the data set as the session loaded it)."""
    import numpy as np

    from studio.core.project.workspace import dataset, spec_key

    data = dataset(spec)
    yield from ()
    used = np.unique(data.y).tolist() if data.y is not None else []
    names = [data.classes[i] if data.classes and 0 <= i < len(data.classes) else str(i) for i in used]
    return spec_key(spec), names
