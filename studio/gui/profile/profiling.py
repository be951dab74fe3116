"""Profiling in the window: the Profile action and the Time tab, the job run by the session, and each
version's profile shown on the Layers table and the graph while that version is shown (cleared when
another is; shown again when it comes back)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from studio.gui.profile.profile_job import TimeProfile, profile_job
from studio.gui.profile.time_panel import TimePanel

if TYPE_CHECKING:
    from studio.core.project.analysis import ModelInfo
    from studio.gui.run.session import Session

BUSY = "A run is going on: wait for it to end, or cancel it in the Run panel"
NO_MODEL = "Open a model first"
TAB_TIP = "Where the time goes: each layer's measured time, time by operator type, and why it is not faster"


class Profiling(QObject):
    def __init__(self, window, session: Session, show_run, parent: QObject | None = None):
        super().__init__(parent or window)
        self.window, self.session, self.show_run = window, session, show_run
        self.profiles: list[tuple[object, TimeProfile]] = []  # (the Model measured, its profile): a version's own
        self.panel = TimePanel()
        self.panel.profileRequested.connect(self.profile)
        self.action = window.make_action("Pro&file Speed", "Time the version shown node by node in ONNX Runtime: where the "
                                         "time goes, and why it is not faster", self.profile, "Ctrl+T")
        window.add_tab(self.panel, "Time", TAB_TIP)
        window.modelChanged.connect(self._shown)
        window.modelClosed.connect(self._closed)
        session.runner.runningChanged.connect(lambda _: self._update())
        self._update()

    def profile(self) -> None:
        version = self.session.version
        if version is None or self.session.running:
            return
        info = self.window.info
        graph = info.graph if info is not None and info.model is version.model else None
        self.session.start(f"profiling {version.label}", lambda result: self._profiled(version, result), profile_job,
                           version.model, graph, self.session.data, self.session.device)
        self.show_run()
        self.window.tabs.setCurrentWidget(self.panel)

    def profile_of(self, model) -> TimeProfile | None:
        return next((p for m, p in self.profiles if m is model), None)

    def _profiled(self, version, result: TimeProfile) -> None:
        if self.session.history is None or self.session.history.versions.get(version.id) is not version:
            return  # deleted, or another model opened meanwhile
        result.version = version.label
        self.profiles = [(m, p) for m, p in self.profiles if m is not version.model] + [(version.model, result)]
        if self.window.info is not None and self.window.info.model is version.model:
            self._apply(result)

    def _shown(self, info: ModelInfo) -> None:
        if not self.session.owns(info.model):
            self.profiles = []  # a new model: the old one's profiles go with it
        profile = self.profile_of(info.model)
        if profile is None:
            version = self.session.version
            self.panel.clear(version.label if version is not None and version.model is info.model else "")
            self.window.table.show_times({}, 0.0)
            self.window.graph.show_times({}, 0.0, "")
        else:
            version = self.session.version
            if version is not None and version.model is info.model:
                profile.version = version.label  # renamed since
            self._apply(profile)
        self._update()

    def _apply(self, p: TimeProfile) -> None:
        self.panel.show_profile(p)
        self.window.table.show_times(p.layer_ms, p.total_ms)
        self.window.graph.show_times(p.node_ms, p.total_ms, p.version)

    def _closed(self) -> None:
        self.profiles = []
        self.panel.clear()
        self._update()

    def _update(self) -> None:
        why_not = NO_MODEL if self.session.version is None else BUSY if self.session.running else ""
        self.action.setEnabled(not why_not)
        self.panel.set_runnable(why_not)
