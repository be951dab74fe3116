"""Before and after: the histograms of the version the shown one is compared with (its parent unless
the user picks another), drawn as outlines over the Layer and Model docks' histograms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from studio.gui.run.worker import JobRunner

if TYPE_CHECKING:
    from studio.core.project.versions import Version
    from studio.gui.run.session import Session
    from studio.gui.versions.versions_panel import VersionsPanel


class Compare(QObject):
    def __init__(self, window, session: Session, versions: VersionsPanel):
        super().__init__(window)
        self.window, self.session, self.versions = window, session, versions
        self._hists: dict[int, tuple] = {}  # id(model) → (model, layer → Histogram, whole-model Histogram)
        self._history = None
        self.runner = JobRunner(self)  # analyses a reference version that was never shown
        self.runner.finished.connect(self._analysed)
        window.modelChanged.connect(self._shown)
        window.layerChanged.connect(lambda _: self.draw())
        versions.compareChanged.connect(lambda _: self.draw())

    def _cache(self) -> dict:
        """Histograms by the model they were taken of. A new session keeps those of its own versions: a
        model just opened was shown (and analysed) before the session made it v0."""
        history = self.session.history
        if self._history is not history:
            self._history = history
            models = {id(v.model) for v in history.versions.values()} if history is not None else set()
            self._hists = {key: entry for key, entry in self._hists.items() if key in models}
        return self._hists

    def _shown(self, info) -> None:
        self._cache()[id(info.model)] = (info.model, info.histograms, info.histogram)
        self.draw()

    def _analysed(self, info) -> None:
        self._cache()[id(info.model)] = (info.model, info.histograms, info.histogram)
        self.draw()

    def draw(self) -> None:
        version, reference, info = self.session.version, self.versions.reference(), self.window.info
        if version is None or info is None or info.model is not version.model:
            return
        if reference is None or _quantized(self.session, version) != _quantized(self.session, reference):
            self._overlay(None, None, "")  # integer weights against float ones: different units
            return
        entry = self._cache().get(id(reference.model))  # the entry keeps its model alive: no other has its id
        if entry is None:
            self._overlay(None, None, "")
            self.runner.start(_analyse_job, reference.model)
            return
        _, layers, whole = entry
        label = f"{reference.label} (outline)"
        self._overlay(layers.get(self.window.layer) if self.window.layer else None, whole, label)

    def _overlay(self, layer, whole, label: str) -> None:
        self.window.layer_panel.histogram.set_overlay(layer, label)
        self.window.model_panel.histogram.set_overlay(whole, label)


def _quantized(session: Session, version: Version) -> bool:
    return any(v.result.op == "quantize" for v in session.history.lineage(version.id))


def _analyse_job(model, cancel):
    from studio.core.project.analysis import analyze  # the window imports the core after it shows

    return (yield from analyze(model, cancel))
