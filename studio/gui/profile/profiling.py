"""Profiling in the window: the Profile action and the Time tab, the job run by the session, and each
version's profile shown on the Layers table and the graph while that version is shown (cleared when
another is; shown again when it comes back). "Compare with" puts the version shown beside another,
layer by layer, profiling first whichever of the two has no profile yet. Profiles are kept in the
session's workspace as plain values, so that a saved project keeps them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from studio.gui.profile.profile_job import QUANT_SUFFIX, TimeProfile, profile_job
from studio.gui.profile.time_panel import TimePanel

if TYPE_CHECKING:
    from studio.core.project.analysis import ModelInfo
    from studio.core.project.versions import Version
    from studio.gui.run.session import Session

BUSY = "A run is going on: wait for it to end, or cancel it in the Run panel"
NO_MODEL = "Open a model first"
TAB_TIP = "Where the time goes: each layer's measured time, time by operator type, why it is not faster, and how it " \
          "compares with another version"
PROFILING = "Profiling {} in the background…"
WAITING = "A run is going on: {} is profiled when it ends."
NOT_PROFILED = "{} was not profiled (cancelled, or it failed): choose it again in Compare with to try again."
PROFILE_SHOWN = "Profile {} (the Profile button) to compare it with {}."
PROFILE_OTHER = "{} has no profile: choose it again in Compare with to profile it."
UNPROFILED = "{} (profile it)"


class Profiling(QObject):
    profiled = Signal()  # a version's profile was added to the work (worth an autosave)

    def __init__(self, window, session: Session, show_run, parent: QObject | None = None):
        super().__init__(parent or window)
        self.window, self.session, self.show_run = window, session, show_run
        self._read: dict[str, tuple[dict, TimeProfile]] = {}  # "v3" → (its stored profile, that profile read)
        self.compare_vid: int | None = None  # the version the one shown is compared with
        self._pending: set[int] = set()  # versions choosing it asked to profile, not started yet
        self._started: set[int] = set()  # and those started (never twice: a cancelled or failed one waits for a new choice)
        self.panel = TimePanel()
        self.panel.profileRequested.connect(self.profile)
        self.panel.compareChosen.connect(self.compare_with)
        self.panel.comparison.layerClicked.connect(self._layer_clicked)
        self.action = window.make_action("Pro&file Speed", "Time the version shown node by node in ONNX Runtime: where the "
                                         "time goes, and why it is not faster", self.profile, "Ctrl+T")
        window.add_tab(self.panel, "Time", TAB_TIP)
        window.modelChanged.connect(self._shown)
        window.modelClosed.connect(self._closed)
        session.runner.runningChanged.connect(lambda _: self._update())
        session.versionsChanged.connect(self._versions_changed)
        self._update()

    def profile(self) -> None:
        version = self.session.version
        if version is None or self.session.running:
            return
        self._start(version)
        self.window.tabs.setCurrentWidget(self.panel)

    def _start(self, version: Version) -> None:
        info = self.window.info
        graph = info.graph if info is not None and info.model is version.model else None  # else made in the job
        self.session.start(f"profiling {version.label}", lambda result: self._profiled(version, result), profile_job,
                           version.model, graph, self.session.data, self.session.device)
        self.show_run()

    def profile_of(self, model) -> TimeProfile | None:
        """The profile of the version holding `model`, labelled as that version is now."""
        history = self.session.history
        version = None if history is None else next((v for v in history.versions.values() if v.model is model), None)
        stored = None if version is None else self.session.profiles.get(f"v{version.id}")
        if stored is None:
            return None
        key = f"v{version.id}"
        if key not in self._read or self._read[key][0] is not stored:
            try:
                self._read[key] = (stored, TimeProfile.from_json(stored))
            except (KeyError, TypeError, ValueError):  # a project file edited by hand: profile it again
                self.session.profiles.pop(key, None)
                return None
        profile = self._read[key][1]
        profile.version = version.label
        return profile

    def _profiled(self, version, result: TimeProfile) -> None:
        if self.session.history is None or self.session.history.versions.get(version.id) is not version:
            return  # deleted, or another model opened meanwhile
        result.version = version.label
        stored = result.to_json()
        self.session.profiles[f"v{version.id}"] = stored
        self._read[f"v{version.id}"] = (stored, result)
        self.profiled.emit()
        if self.window.info is not None and self.window.info.model is version.model:
            self._apply(result)
        self._choices()
        QTimer.singleShot(0, self, self._advance)  # the comparison may wait for it, or start the other's profile

    def _shown(self, info: ModelInfo) -> None:
        if not self.session.owns(info.model):
            self._read = {}  # a new model: the old one's profiles go with it
        profile = self.profile_of(info.model)
        if profile is None:
            version = self.session.version
            self.panel.clear(version.label if version is not None and version.model is info.model else "")
            self.window.table.show_times({}, 0.0)
            self.window.graph.show_times({}, 0.0, "")
        else:
            self._apply(profile)
        self._pending = set()  # showing another version profiles nothing unasked
        self._update()

    def _apply(self, p: TimeProfile) -> None:
        self.panel.show_profile(p)
        self.window.table.show_times(p.layer_ms, p.total_ms)
        self.window.graph.show_times(p.node_ms, p.total_ms, p.version)

    def _closed(self) -> None:
        self._read = {}
        self.compare_vid = None
        self.panel.clear()
        self._update()

    def _update(self) -> None:
        why_not = NO_MODEL if self.session.version is None else BUSY if self.session.running else ""
        self.action.setEnabled(not why_not)
        self.panel.set_runnable(why_not)
        self._choices()
        QTimer.singleShot(0, self, self._advance)  # after the run's result is in (running ends before it comes)

    # ---- comparing two versions ------------------------------------------------------------------

    def compare_with(self, vid: int | None) -> None:
        """Compare the version shown with version `vid` (None: no comparison)."""
        self.compare_vid, self._started = vid, set()
        shown, other = self.session.version, self._other()
        self._pending = {v.id for v in (shown, other) if other is not None and self.profile_of(v.model) is None}
        self._advance()

    def _other(self) -> Version | None:
        history, shown = self.session.history, self.session.version
        other = None if history is None or self.compare_vid is None else history.versions.get(self.compare_vid)
        return None if other is None or shown is None or other is shown else other

    def _choices(self) -> None:
        history, shown = self.session.history, self.session.version
        versions = [] if history is None or shown is None else [v for v in history.versions.values() if v is not shown]
        labels = [(v.id, v.label if self.profile_of(v.model) is not None else UNPROFILED.format(v.label)) for v in versions]
        self.panel.set_compare_choices(labels, self.compare_vid if self._other() is not None else None)

    def _versions_changed(self) -> None:
        if self._other() is None:
            self.compare_vid = None
        self._choices()
        QTimer.singleShot(0, self, self._advance)

    def _advance(self) -> None:
        """Show the comparison chosen, profiling first whichever of the two versions has no profile."""
        shown, other = self.session.version, self._other()
        if other is None:
            self.compare_vid = None
            self.panel.hide_comparison()
            return
        missing = [v for v in (shown, other) if self.profile_of(v.model) is None]
        if not missing:
            self._show_comparison(shown, other)
            return
        version = missing[0]
        if version.id in self._pending and not self.session.running:
            self._pending.discard(version.id)
            self._started.add(version.id)
            self._start(version)
        if version.id in self._started:
            text = (PROFILING if self.session.running else NOT_PROFILED).format(version.label)
        elif version.id in self._pending:
            text = WAITING.format(version.label)
        else:
            text = PROFILE_SHOWN.format(shown.label, other.label) if version is shown else PROFILE_OTHER.format(other.label)
        self.panel.compare_message(text)

    def _show_comparison(self, shown: Version, other: Version) -> None:
        from studio.core.evaluate.profile_compare import compare

        before, after = sorted((shown, other), key=lambda v: v.id)  # the older one first
        p, q = self.profile_of(before.model), self.profile_of(after.model)
        if p.timings is None or q.timings is None:
            self.panel.compare_message("Profile both versions again to compare them.")
            return
        note = "" if p.setting == q.setting else f"Measured differently: {before.label} at {p.setting}, {after.label} at {q.setting}."
        self.panel.show_comparison(compare(p.timings, q.timings, before.label, after.label), note)

    def _layer_clicked(self, change) -> None:
        """Select the row's layer: named after its weights (a PyTorch version's conv1), or after its node
        in either version (an ONNX version's layers, conv1_quant as conv1)."""
        info = self.window.info
        if info is None:
            return
        for name in (change.name, *change.after_nodes, *change.before_nodes):
            name = QUANT_SUFFIX.sub("", name)
            if info.layer(name) is not None:
                self.window.select_layer(name)
                return
