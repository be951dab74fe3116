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
        self._hists: dict[int, tuple[dict, object]] = {}  # vid → (layer → Histogram, whole-model Histogram)
        self._history = None
        self._early: tuple | None = None  # a model shown before the session made it a version: (model, histograms)
        self.runner = JobRunner(self)  # analyses a reference version that was never shown
        self.runner.finished.connect(self._analysed)
        window.modelChanged.connect(self._shown)
        window.layerChanged.connect(lambda _: self.draw())
        versions.compareChanged.connect(lambda _: self.draw())

    def _cache(self) -> dict:
        if self._history is not self.session.history:
            self._history, self._hists = self.session.history, {}
        if self._early is not None:
            version = self._version_of(self._early[0])
            if version is not None:
                self._hists[version.id] = self._early[1]
                self._early = None
        return self._hists

    def _shown(self, info) -> None:
        version = self._version_of(info.model)
        if version is not None:
            self._cache()[version.id] = (info.histograms, info.histogram)
        else:  # a model just opened becomes v0 after this: analysing it again later would take a 100M model's time
            self._early = (info.model, (info.histograms, info.histogram))
        self.draw()

    def _analysed(self, result) -> None:
        vid, info = result
        self._cache()[vid] = (info.histograms, info.histogram)
        self.draw()

    def draw(self) -> None:
        version, reference, info = self.session.version, self.versions.reference(), self.window.info
        if version is None or info is None or info.model is not version.model:
            return
        if reference is None or _quantized(self.session, version) != _quantized(self.session, reference):
            self._overlay(None, None, "")  # integer weights against float ones: different units
            return
        if reference.id not in self._cache():
            self._overlay(None, None, "")
            self.runner.start(_analyse_job, reference.id, reference.model)
            return
        layers, whole = self._cache()[reference.id]
        label = f"{reference.label} (outline)"
        self._overlay(layers.get(self.window.layer) if self.window.layer else None, whole, label)

    def _overlay(self, layer, whole, label: str) -> None:
        self.window.layer_panel.histogram.set_overlay(layer, label)
        self.window.model_panel.histogram.set_overlay(whole, label)

    def _version_of(self, model) -> Version | None:
        history = self.session.history
        return None if history is None else next((v for v in history.versions.values() if v.model is model), None)


def _quantized(session: Session, version: Version) -> bool:
    return any(v.result.op == "quantize" for v in session.history.lineage(version.id))


def _analyse_job(vid: int, model, cancel):
    from studio.core.project.analysis import analyze

    return vid, (yield from analyze(model, cancel))
