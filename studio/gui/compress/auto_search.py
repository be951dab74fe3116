"""Runs the "Make it smaller" sheet's search through the session, like any compression run: every candidate
goes to the sheet's table and the Pareto chart as it finishes, Cancel (the sheet's Stop, or the Run
panel's) ends it with the best so far, and the best, with each step that made it, becomes a version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from studio.core.errors import StudioError
from studio.gui.common import dialogs

if TYPE_CHECKING:
    from studio.core.project.auto_result import AutoResult
    from studio.gui.compress.auto_panel import AutoPanel

RAISE_MS = 30  # as compression.RAISE_MS: after a run, the window raises the Versions dock, then the Layer dock
RUN_CANCEL_TIP = "Stop the search and keep the best candidate so far as a new version (a second click stops at once, keeping nothing)"
NOW_TIP = "Stop at once: nothing the search found is kept"


class AutoSearch(QObject):
    def __init__(self, compression, show_run_dock):
        super().__init__(compression)
        self.c, self.session, self.show_run_dock = compression, compression.session, show_run_dock
        self.panel: AutoPanel | None = None
        self.searching = False
        self._run = None  # (the version it started from, the data spec, the goal)
        self._token = None  # what stops it with its best so far (auto_job.SharedStop)
        self._found: list[dict] = []  # the candidates' metrics, for the chart
        self._history = None  # the chart's candidates belong to this history
        self._cancel_tip = ""
        self.session.runner.progress.connect(self._progress)
        self.session.runner.cancelled.connect(lambda: self._over("Stopped at once: nothing the search found was kept."))
        self.session.runner.failed.connect(lambda _: self._over("The search failed: nothing was added."))  # the window says why
        self.session.versionsChanged.connect(self._history_changed)

    def attach(self, panel: AutoPanel) -> None:
        self.panel = panel
        panel.runRequested.connect(self.start)
        panel.stopRequested.connect(self.stop)
        self.session.currentChanged.connect(lambda version: self._show_metric())
        self.session.versionsChanged.connect(self._show_metric)  # measured again (on data without labels)
        self._show_metric()

    def _show_metric(self) -> None:
        version = self.session.version
        if self.panel is not None and version is not None and version.metrics:
            self.panel.show_metric("accuracy" if "accuracy" in version.metrics else "agreement")

    def start(self) -> None:
        from studio.gui.compress.auto_job import SharedStop, search_job

        version, spec = self.session.version, self.session.data
        try:
            goal = self.panel.goal()
            if spec is None:
                raise StudioError("choose the data to measure on first (Data: in the toolbar): the search measures "
                                  "every candidate's accuracy on it")
        except StudioError as e:
            dialogs.show_error(self.c.window, "Cannot start the search yet", str(e))
            return
        metric = "accuracy" if "accuracy" in version.metrics else "agreement"
        self._run, self._found, self._history, self._token = (version, spec, goal), [], self.session.history, SharedStop()
        self.c.versions.pareto.show_candidates([])
        self.panel.begin(goal, metric)
        self.session.search(f"searching for {goal.describe()}", self._ended, search_job, version.model, spec, goal,
                            self.session.device, self._token, stop=self.stop_softly)
        self.searching = True
        self.show_run_dock()
        self.c.versions_dock.raise_()  # the Pareto chart shows the candidates as they come
        cancel = self.c.run_dock.widget().cancel
        self._cancel_tip = cancel.toolTip()
        cancel.setToolTip(RUN_CANCEL_TIP)

    def stop(self) -> None:
        """The sheet's Stop: as the Run panel's Cancel, which first ends the search with its best so far."""
        if self.searching:
            self.session.cancel()

    def stop_softly(self) -> None:
        self._token.cancel()
        self.panel.stopping()
        self.c.run_dock.widget().cancel.setToolTip(NOW_TIP)

    def _progress(self, event) -> None:
        from studio.core.project.auto_result import SearchProgress

        if not self.searching or not isinstance(event, SearchProgress):
            return
        self.panel.show_progress(event)
        c = event.candidate
        if c is not None and c.metrics:
            self._found.append(c.metrics)
            self.c.versions.pareto.show_candidates(self._found, *self._goal_area())

    def _goal_area(self) -> tuple[dict, float | None]:
        """The goal on the chart's axes, from the start's own measures (the first candidate)."""
        if not self._found:
            return {}, None
        _, _, goal = self._run
        start = self._found[0]
        bounds = {}
        if goal.smaller:
            key = "zip_bytes" if goal.size == "zip" else "size_bytes"
            if start.get(key):
                bounds[key] = start[key] / goal.smaller
        timed = next((m["source_latency_ms"] for m in self._found if m.get("source_latency_ms")), None)  # the start, timed beside each
        if goal.faster and timed:
            bounds["latency_ms"] = timed / goal.faster
        score = start.get("accuracy", start.get("agreement"))
        return bounds, None if score is None else score - goal.max_drop / 100

    def _over(self, failure: str = "") -> None:
        """The search ended, failed (`failure` says so) or was stopped at once."""
        if not self.searching:
            return
        self.searching = False
        self.c.run_dock.widget().cancel.setToolTip(self._cancel_tip)
        if failure:
            self.panel.show_failure(failure)

    def _ended(self, result: AutoResult) -> None:
        self._over()
        base, spec, _ = self._run
        best = result.best
        made = best.made if best.made is not None else ([best.version] if best.index and best.version is not None else [])
        history = self.session.history
        new = []
        if made and history is self._history and history.versions.get(base.id) is base:
            before = set(history.versions)
            self.session.searched(base, made, spec)
            new = sorted(set(history.versions) - before)
        if new:
            added = f"Added as v{new[-1]}" + (f", after the steps that made it ({', '.join(f'v{i}' for i in new[:-1])})."
                                              if len(new) > 1 else ".")
        else:
            added = "Not added: the version it started from is gone." if made else "No version was added."
        self.panel.show_result(result, added)
        self.c.run_dock.widget().message.setText(
            f"The search ({len(result.candidates) - 1} candidates in {result.elapsed_s:.0f} s): goal {'met' if result.met else 'NOT met'}; "
            f"{added[0].lower() + added[1:]} The Compress panel lists every candidate.")
        QTimer.singleShot(4 * RAISE_MS, self, self.c.compress_dock.raise_)  # after the window's own raising of the docks
        status = ("Goal met: " if result.met else "Goal not met: ") + (best.name if best.index else "nothing better found")
        self.c.window.statusBar().showMessage(status, 15_000)

    def _history_changed(self) -> None:
        """Another model (or none) is open: the last search's candidates go from the chart."""
        if self._found and self.session.history is not self._history:
            self._found = []
            self.c.versions.pareto.show_candidates([])
