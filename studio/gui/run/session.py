"""The window's view of a core Workspace (the versions, the data and device, the jobs): it forwards
actions to it, runs its jobs one at a time in a worker, and tells the panels what changed."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from studio.gui.run.worker import JobRunner

if TYPE_CHECKING:
    from studio.core.formats.model import Model
    from studio.core.process.jobs import Progress
    from studio.core.project.analysis import ModelInfo
    from studio.core.project.project_file import Project
    from studio.core.project.recipe import StepResult
    from studio.core.project.versions import History, Version
    from studio.core.project.workspace import Removed, Workspace


class Session(QObject):
    versionsChanged = Signal()  # added, removed, renamed or re-measured
    currentChanged = Signal(object)  # the current Version
    runFinished = Signal(list)  # the Versions a run added
    failed = Signal(str, object)  # what was being done, the exception
    dataChanged = Signal(object)  # the data spec
    noticed = Signal(str)  # a problem worth a line in the window, not a dialog: nobody asked for that job
    outputAsked = Signal(str)  # several outputs could hold the data's classes (the problem): ask which
    dataNoted = Signal(str)  # what keeps the chosen data from measuring the model, in a sentence; "" once measuring starts

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace: Workspace | None = None  # made with the first model: core loads only in the worker
        self._data, self._device = None, "cpu"  # chosen before any model was opened (core is not loaded yet)
        self.runner = JobRunner(self)
        self.runner.progress.connect(self._trace)
        self.runner.finished.connect(lambda result: self._then(result))
        self.runner.failed.connect(self._failed)
        self._then, self._doing, self._tracing, self._on_error = None, "", False, None
        self._points: dict[str, list] = {}  # charted: accuracy, and agreement with the version the run started from
        self._t0 = 0.0
        self._steps_ended = 0
        self._analysis: tuple[int, ModelInfo] | None = None  # the last run's last version, analysed, until shown
        self.soft_stop = None  # while a search runs: what stops it with its best so far (Cancel's first press)
        self.runner.runningChanged.connect(lambda running: running or setattr(self, "soft_stop", None))

    def analysis(self, vid: int) -> ModelInfo | None:
        """The panels' analysis of the version the last run ended with (once: shown again, a version is
        analysed again)."""
        made, self._analysis = self._analysis, None
        return made[1] if made is not None and made[0] == vid else None

    # ---- state: the workspace's ------------------------------------------------------------------

    @property
    def history(self) -> History | None:
        return None if self.workspace is None else self.workspace.history

    @property
    def current(self) -> int | None:
        return None if self.workspace is None else self.workspace.current

    @property
    def data(self):
        return self._data if self.workspace is None else self.workspace.data

    @property
    def device(self) -> str:
        return self._device if self.workspace is None else self.workspace.device

    @device.setter
    def device(self, device: str) -> None:
        if self.workspace is None:
            self._device = device
        else:
            self.workspace.device = device

    @property
    def charts(self) -> dict:
        return {} if self.workspace is None else self.workspace.charts

    @property
    def profiles(self) -> dict:
        """Each version's time profile as plain values ("v3" → …), saved with the project."""
        return {} if self.workspace is None else self.workspace.profiles

    @property
    def version(self) -> Version | None:
        return None if self.workspace is None else self.workspace.version

    def owns(self, model: Model) -> bool:
        return self.workspace is not None and self.workspace.owns(model)

    def _workspace(self) -> Workspace:
        if self.workspace is None:
            from studio.core.project.workspace import Workspace

            self.workspace = Workspace(data=self._data, device=self._device)
        return self.workspace

    def begin(self, model: Model, data: str | dict | None) -> None:
        """A newly opened model becomes v0 of a new history, measured on `data` in the worker."""
        self.runner.cancel()  # a run on the model that was open must not land in the new history
        self._points = {}  # nor its charts stay
        changed = data != self.data
        self._workspace().begin(model, data)
        if changed:
            self.dataChanged.emit(data)
        self.versionsChanged.emit()
        self.currentChanged.emit(self.version)
        self.measure(asked=False)

    def restore(self, project: Project) -> None:
        self.runner.cancel()
        self._points = {}
        self._workspace().restore(project)
        self.dataNoted.emit("")
        self.dataChanged.emit(self.data)
        self.versionsChanged.emit()
        self.currentChanged.emit(self.version)

    def project(self) -> Project:
        return self.workspace.project()

    def select(self, vid: int) -> None:
        if self.workspace is not None and self.workspace.select(vid):
            self.currentChanged.emit(self.version)

    def close(self) -> None:
        """No model open any more (File → New); the data and device chosen stay for the next one."""
        self.runner.cancel()
        if self.workspace is not None:
            self._data, self._device = self.workspace.data, self.workspace.device
            self.workspace = None
        self._analysis, self._points = None, {}
        self.dataNoted.emit("")
        self.versionsChanged.emit()
        self.currentChanged.emit(None)

    def rename(self, vid: int, label: str) -> None:
        self.workspace.rename(vid, label)
        self.versionsChanged.emit()

    def family(self, vid: int) -> list[int]:
        """The version and every version made from it, as delete() removes them."""
        return self.workspace.family(vid)

    def delete(self, vid: int) -> Removed:
        """Remove a version and the versions made from it; never the original. Returns what
        undelete() needs to put them back."""
        removed = self.workspace.delete(vid)
        self.versionsChanged.emit()
        if removed.current != self.workspace.current:
            self.currentChanged.emit(self.version)
        return removed

    def undelete(self, removed: Removed) -> None:
        """Put deleted versions back as they were (Edit → Undo)."""
        before = self.workspace.current
        self.workspace.undelete(removed)
        self.versionsChanged.emit()
        if self.workspace.current != before:
            self.currentChanged.emit(self.version)

    def set_data(self, spec: str | dict | None) -> None:
        if self.workspace is None:
            if spec != self._data:
                self._data = spec
                self.dataChanged.emit(spec)
            return
        if not self.workspace.set_data(spec):
            return
        self.dataNoted.emit("")  # what was said of the data before is no longer true
        self.dataChanged.emit(spec)
        if self.workspace.only_the_original and not (self.running and (self._tracing or self.soft_stop is not None)):  # nor a search
            self.measure()  # (again, if it was being measured on the old data)

    # ---- jobs -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.runner.running

    @property
    def tracing(self) -> bool:
        """Whether the job going on (or last) is a compression run, whose metrics are charted."""
        return self._tracing

    def measure(self, asked: bool = True) -> None:
        """(Re-)measure the original on the current data: its accuracy and the outputs later steps compare
        to. When the user did not ask (a model was just opened with the data chosen before), data that
        does not suit the model is a notice rather than a dialog."""
        from studio.core.project.workspace import measure_job

        v0 = self.history.versions[0]
        self.dataNoted.emit("")
        self._start(f"measuring {v0.model.name}", lambda measured: self._measured(v0.model, *measured), measure_job, v0.model,
                    self.data, self.device, on_error=lambda error: self._not_measured(error, asked))

    def _not_measured(self, error: Exception, asked: bool) -> bool:
        """Data that does not suit the model: a line that stays while that data is chosen, and, when the
        user chose the data just now, a dialog too (returns False: the window is told)."""
        from studio.core.errors import StudioError
        from studio.core.project.workspace import spec_name

        if not isinstance(error, StudioError):
            return False
        text = f"Not measured on {spec_name(self.data)}: {error.problem}. Choose other data to measure it."
        self.dataNoted.emit(text)
        if asked:
            return False
        self.noticed.emit(text)
        return True

    def run_start(self, vid: int) -> Version | None:
        """The version the run that made `vid` started from: the charts' agreement is with it. The
        versions one run makes each keep a copy of its charts."""
        versions, charts = self.history.versions, self.charts
        version = versions.get(vid)
        while version is not None and version.parent is not None and charts.get(f"v{version.parent}") == charts.get(f"v{vid}"):
            version = versions[version.parent]
        return None if version is None or version.parent is None else versions[version.parent]

    def run(self, steps: list[tuple[str, dict]]) -> None:
        """Run steps (op, options) on the current version; each finished step becomes a version."""
        from studio.core.project.steps import OPS
        from studio.core.project.workspace import steps_job

        steps = [(op, OPS[op].validate(op, options)) for op, options in steps]
        base = self.version
        refresh = self.workspace.needs_reference(base)
        self._points, self._t0, self._steps_ended = {}, time.monotonic(), 0
        self._trace_metrics(0.0, {k: v for k, v in base.metrics.items() if k != "agreement"})  # its agreement is with its own parent
        spec = self.data
        self._start(" then ".join(op for op, _ in steps), lambda results: self._ran(base, results, spec),
                    steps_job, base.result, steps, spec, self.device, refresh, trace=True)

    def start(self, doing: str, then, job, *args, on_error=None) -> None:
        """Any other job (a sensitivity analysis, opening a project): `then(result)` when it ends;
        `on_error(exception)` may handle a failure (returning True) before the window is told."""
        self._start(doing, then, job, *args, on_error=on_error)

    def search(self, doing: str, then, job, *args, stop, on_error=None) -> None:
        """The goal-driven search: like start(), but Cancel first calls `stop()`, which ends it with its best so
        far (`then` gets it); a second Cancel stops it at once."""
        self._points = {}  # the versions it adds keep no charts of another run
        self._start(doing, then, job, *args, on_error=on_error)
        self.soft_stop = stop

    def searched(self, base: Version, results: list[StepResult], spec) -> None:
        """The versions a search made from `base` (the best candidate's steps), added as a run's are."""
        self._ran(base, (results, None), spec)

    def cancel(self) -> None:
        stop, self.soft_stop = self.soft_stop, None
        if stop is not None and self.running:
            stop()
        else:
            self.runner.cancel()

    def _start(self, doing: str, then, job, *args, trace: bool = False, on_error=None) -> None:
        self._doing, self._then, self._tracing, self._on_error = doing, then, trace, on_error
        self.runner.start(job, *args)

    def _failed(self, error: Exception) -> None:
        from studio.core.project.workspace import needs_output

        if needs_output(error):  # not a failure but a question: the window asks, then measures again
            self.outputAsked.emit(error.problem)
        elif self._on_error is None or not self._on_error(error):
            self.failed.emit(self._doing, error)

    def _measured(self, model: Model, metrics: dict, outputs) -> None:
        if self.workspace is not None and self.workspace.measured(model, metrics, outputs):
            self.versionsChanged.emit()

    def _ran(self, base: Version, ran: tuple[list[StepResult], ModelInfo | None], spec) -> None:
        (results, info) = ran
        added = self.workspace.add(base, results, spec, self._points) if self.workspace is not None else None
        if added is None:
            return  # deleted meanwhile
        self._analysis = None if info is None else (self.current, info)
        self.versionsChanged.emit()
        self.currentChanged.emit(self.version)
        self.runFinished.emit(added)

    def _trace(self, event: Progress) -> None:
        if self._tracing and event.metrics:
            metrics = event.metrics
            if "zip_bytes" in metrics and "epoch" not in metrics:  # a step ended: the version it made is measured whole
                self._steps_ended += 1
                if self._steps_ended > 1:  # its agreement is with the step before, not with the run's start as charted
                    metrics = {k: v for k, v in metrics.items() if k != "agreement"}
            self._trace_metrics(time.monotonic() - self._t0, metrics)

    def _trace_metrics(self, x: float, metrics: dict) -> None:
        for key, value in metrics.items():
            if key in CHARTED:
                self._points.setdefault(key, []).append([x, float(value)])

    @property
    def points(self) -> dict[str, list]:
        """The charted metrics of the run going on (or last run): {metric: [[seconds into the run, value], …]}."""
        return self._points


CHARTED = ("accuracy", "agreement", "teacher_accuracy", "sparsity", "size_bytes", "zip_bytes", "loss", "loss_distill", "loss_labels")
