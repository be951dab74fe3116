"""The versions made in this window (a core History), the data and device they run on, and the one
compression job that may run at a time. Widgets ask the session; the session asks core in a worker."""

from __future__ import annotations

import functools
import json
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from studio.gui.run.worker import JobRunner

if TYPE_CHECKING:
    from studio.core.project.analysis import ModelInfo
    from studio.core.process.jobs import Progress
    from studio.core.formats.model import Model
    from studio.core.project.project_file import Project
    from studio.core.project.recipe import StepResult
    from studio.core.project.versions import History, Version


class Session(QObject):
    versionsChanged = Signal()  # added, removed, renamed or re-measured
    currentChanged = Signal(object)  # the current Version
    runFinished = Signal(list)  # the Versions a run added
    failed = Signal(str, object)  # what was being done, the exception
    dataChanged = Signal(object)  # the data spec
    noticed = Signal(str)  # a problem worth a line in the window, not a dialog: nobody asked for that job
    outputAsked = Signal(str)  # several outputs could hold the data's classes (the problem): ask which

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.history: History | None = None
        self.current: int | None = None
        self.data: str | dict | None = None
        self.device = "cpu"
        self.charts: dict = {}  # "v3": {metric: [[seconds, value], …]}: the live charts of the run that made v3
        self._measured_on: dict[int, str] = {}  # vid → the data its logits were computed on
        self.runner = JobRunner(self)
        self.runner.progress.connect(self._trace)
        self.runner.finished.connect(lambda result: self._then(result))
        self.runner.failed.connect(self._failed)
        self._then, self._doing, self._tracing, self._on_error = None, "", False, None
        self._points: dict[str, list] = {}
        self._t0 = 0.0
        self._analysis: tuple[int, ModelInfo] | None = None  # the last run's last version, analysed, until shown

    def analysis(self, vid: int) -> ModelInfo | None:
        """The panels' analysis of the version the last run ended with (once: shown again, a version is
        analysed again)."""
        made, self._analysis = self._analysis, None
        return made[1] if made is not None and made[0] == vid else None

    # ---- state ----------------------------------------------------------------------------------

    @property
    def version(self) -> Version | None:
        return None if self.history is None or self.current is None else self.history.versions[self.current]

    def owns(self, model: Model) -> bool:
        return self.history is not None and any(v.model is model for v in self.history.versions.values())

    def begin(self, model: Model, data: str | dict | None) -> None:
        """A newly opened model becomes v0 of a new history, measured on `data` in the worker."""
        from studio.core.project.recipe import StepResult
        from studio.core.project.versions import History

        self.runner.cancel()  # a run on the model that was open must not land in the new history
        self.history, self.charts, self._measured_on = History(), {}, {}
        if data != self.data:
            self.data = data
            self.dataChanged.emit(data)
        self.history.add(StepResult("load", {}, "original", model, {}), None, "v0 original")
        self.current = 0
        self.versionsChanged.emit()
        self.currentChanged.emit(self.version)
        self.measure(asked=False)

    def restore(self, project: Project) -> None:
        self.runner.cancel()
        self.history, self.data, self.device, self.charts = project.history, project.data, project.device, project.charts
        self.current = project.current if project.current in project.history.versions else min(project.history.versions)
        self._measured_on = {vid: _key(self.data) for vid in self.history.versions}
        self.dataChanged.emit(self.data)
        self.versionsChanged.emit()
        self.currentChanged.emit(self.version)

    def project(self) -> Project:
        from studio.core.project.project_file import Project

        return Project(self.history, self.data, self.device, self.current, self.charts)

    def select(self, vid: int) -> None:
        if vid != self.current and self.history is not None and vid in self.history.versions:
            self.current = vid
            self.currentChanged.emit(self.version)

    def rename(self, vid: int, label: str) -> None:
        self.history.versions[vid].label = label
        self.versionsChanged.emit()

    def delete(self, vid: int) -> None:
        """Remove a version and the versions made from it; never the original."""
        if self.history.versions[vid].parent is None:
            raise ValueError("the original version stays")
        doomed = [vid]
        for v in doomed:
            doomed += [c.id for c in self.history.children(v)]
        parent = self.history.versions[vid].parent
        for v in doomed:
            del self.history.versions[v]
            self.charts.pop(f"v{v}", None)
        moved = self.current in doomed
        if moved:
            self.current = parent
        self.versionsChanged.emit()
        if moved:
            self.currentChanged.emit(self.version)

    def set_data(self, spec: str | dict | None) -> None:
        if spec == self.data:
            return
        self.data = spec
        self.dataChanged.emit(spec)
        if self.history is not None and list(self.history.versions) == [0] and not (self.running and self._tracing):
            self.measure()  # (again, if it was being measured on the old data)

    # ---- jobs -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.runner.running

    def measure(self, asked: bool = True) -> None:
        """(Re-)measure the original on the current data: its accuracy and the logits later steps compare to.
        When the user did not ask (a model was just opened with the data chosen before), data that does
        not suit the model is a notice rather than a dialog."""
        v0 = self.history.versions[0]
        self._start(f"measuring {v0.model.name}", lambda measured: self._measured(v0.model, *measured), _measure_job, v0.model,
                    self.data, self.device, on_error=None if asked else self._not_measured)  # fmt: skip

    def _not_measured(self, error: Exception) -> bool:
        from studio.core.errors import StudioError

        if not isinstance(error, StudioError):
            return False
        self.noticed.emit(f"Not measured on {_name(self.data)}: {error.problem}. Choose other data to measure it.")
        return True

    def run(self, steps: list[tuple[str, dict]]) -> None:
        """Run steps (op, options) on the current version; each finished step becomes a version."""
        from studio.core.project.steps import OPS

        steps = [(op, OPS[op].validate(op, options)) for op, options in steps]
        base = self.version
        refresh = self._measured_on.get(base.id) != _key(self.data)
        self._points, self._t0 = {}, time.monotonic()
        self._trace_metrics(0.0, {k: v for k, v in base.metrics.items() if k != "agreement"})  # its agreement is with its own parent
        spec = self.data
        self._start(" then ".join(op for op, _ in steps), lambda results: self._ran(base, results, spec),
                    _steps_job, base.result, steps, spec, self.device, refresh, trace=True)  # fmt: skip

    def start(self, doing: str, then, job, *args, on_error=None) -> None:
        """Any other job (a sensitivity analysis, opening a project): `then(result)` when it ends;
        `on_error(exception)` may handle a failure (returning True) before the window is told."""
        self._start(doing, then, job, *args, on_error=on_error)

    def cancel(self) -> None:
        self.runner.cancel()

    def _start(self, doing: str, then, job, *args, trace: bool = False, on_error=None) -> None:
        self._doing, self._then, self._tracing, self._on_error = doing, then, trace, on_error
        self.runner.start(job, *args)

    def _failed(self, error: Exception) -> None:
        if needs_output(error):  # not a failure but a question: the window asks, then measures again
            self.outputAsked.emit(error.problem)
        elif self._on_error is None or not self._on_error(error):
            self.failed.emit(self._doing, error)

    def _measured(self, model: Model, metrics: dict, logits) -> None:
        from dataclasses import replace

        v0 = self.history.versions.get(0) if self.history else None
        if v0 is not None and v0.model is model:
            v0.result = replace(v0.result, metrics=metrics, logits=logits)
            self._measured_on[0] = _key(self.data)
            self.versionsChanged.emit()

    def _ran(self, base: Version, ran: tuple[list[StepResult], ModelInfo | None], spec) -> None:
        if self.history is None or self.history.versions.get(base.id) is not base:
            return  # deleted meanwhile
        (results, info), added, parent = ran, [], base.id
        for result in results:
            version = self.history.add(result, parent)
            self._measured_on[version.id] = _key(spec)
            self.charts[f"v{version.id}"] = {k: list(v) for k, v in self._points.items()}
            added.append(version)
            parent = version.id
        self.current = parent
        self._analysis = None if info is None else (parent, info)
        self.versionsChanged.emit()
        self.currentChanged.emit(self.version)
        self.runFinished.emit(added)

    def _trace(self, event: Progress) -> None:
        if self._tracing and event.metrics:
            self._trace_metrics(time.monotonic() - self._t0, event.metrics)

    def _trace_metrics(self, x: float, metrics: dict) -> None:
        for key, value in metrics.items():
            if key in CHARTED:
                self._points.setdefault(key, []).append([x, float(value)])

    @property
    def points(self) -> dict[str, list]:
        """The charted metrics of the run going on (or last run): {metric: [[seconds into the run, value], …]}."""
        return self._points


CHARTED = ("accuracy", "agreement", "teacher_accuracy", "sparsity", "size_bytes", "zip_bytes", "loss", "loss_distill", "loss_labels")


def needs_output(error: Exception) -> bool:
    """The data is labelled and several of the model's outputs could hold its classes: the data spec
    must name one (studio.core.evaluate.metrics.class_output)."""
    from studio.core.errors import StudioError

    return isinstance(error, StudioError) and "could each hold the classes" in error.problem


def with_output(spec, output: str | None, labeled: bool = True):
    """The data spec naming the output that holds the classes (None: none named); labeled=False sets
    the labels aside. A spec with nothing to add stays a plain path."""
    if spec is None:
        return None
    made = dict(spec) if isinstance(spec, dict) else {"path": spec}
    made.pop("output", None)
    if output is not None:
        made["output"] = output
    if not labeled:
        made["labels"] = "none"
    return made if len(made) > 1 else made["path"]


def _key(spec) -> str:
    return json.dumps(spec, sort_keys=True)


@functools.lru_cache(maxsize=4)
def _load(key: str):
    from studio.core.evaluate.data import load_data

    return load_data(json.loads(key))


def dataset(spec):
    """The data set of a spec, loaded once (in a worker) and kept for later runs."""
    return None if spec is None else _load(_key(spec))


def with_data(job, spec, *args, cancel, fork: bool = True):
    """A job the window runs on its data: the data set loads here, on the worker thread (once, kept for
    later runs), then job(data, *args) runs in a forked child (studio.core.process.isolated), which inherits
    it, so that the window keeps Python's lock to itself while the job computes."""
    from studio.core.process.isolated import isolated
    from studio.core.process.jobs import Progress

    yield Progress(0, 1, "loading the data" if spec else "starting")
    data = dataset(spec)
    return (yield from (isolated(job) if fork else job)(data, *args, cancel=cancel))


def _measure_job(model: Model, spec, device: str, cancel):
    """Measuring runs here, on the worker thread, unless on a GPU (CUDA starts only in children) or
    an ONNX model is run on data. Sizes and PyTorch's predictions mostly wait on code that lets go of
    Python's lock (zlib, PyTorch's kernels), and measuring follows the opening of a model: the fork
    itself, which holds Python's lock, takes 20–35 ms in a process holding a large model, right when
    the window fills its panels (a 100M-parameter ONNX model's open then froze the window for
    90–120 ms instead of 40–50). But ONNX Runtime takes its model as serialised bytes, and protobuf
    holds the lock while it serialises: 2.6 s for that 100M-parameter model."""
    fork = device != "cpu" or (spec is not None and model.onnx is not None)
    return (yield from with_data(_measure, spec, model, spec, device, cancel=cancel, fork=fork))


def _measure(data, model: Model, spec, device: str, cancel):
    """The metrics of a model on the data, and its outputs (later steps compare to them)."""
    from studio.core.process.jobs import Progress
    from studio.core.project.recipe import step_metrics

    yield Progress(0, 1, f"measuring {model.name}" + (f" on {_name(spec)}" if spec else ""))
    metrics, logits = step_metrics(model, data, None, device)
    yield Progress(1, 1, "measured", metrics)
    return metrics, logits


def _steps_job(previous: StepResult, steps: list, spec, device: str, refresh: bool, cancel):
    """Each new version, and the panels' analysis (ModelInfo) of the last one, which the window shows
    next, made in the child. The layers, views of the weights, are taken here rather than sent twice."""
    from dataclasses import replace

    from studio.core.inspect.layers import layers_of

    results, info = yield from with_data(_steps, spec, previous, steps, device, refresh, cancel=cancel)
    model = results[-1].model
    return results, info and replace(info, model=model, layers=layers_of(model))


def _steps(data, previous: StepResult, steps: list, device: str, refresh: bool, cancel):
    from dataclasses import replace

    from studio.core.process.jobs import offset
    from studio.core.project.recipe import run_step, step_metrics
    from studio.core.project.steps import Context

    if refresh:  # the version was measured on other data: its outputs on this data are the reference
        previous = replace(previous, logits=step_metrics(previous.model, data, None, device)[1])
    ctx = Context(data, device, cancel, original=previous.model)
    spans = [1 + options.get("epochs", 0) * (op != "prune" or options["schedule"] == "gradual") for op, options in steps]
    results = []
    for i, (op, options) in enumerate(steps):  # the progress bar gives each step its share of the work: epochs
        prefix = f"step {i + 1} of {len(steps)}, {op}: " if len(steps) > 1 else ""
        job = run_step(previous, op, options, ctx)
        results.append((yield from offset(job, sum(spans[:i]), sum(spans), prefix, spans[i])))
        previous = results[-1]
    return results, _analysis(results[-1].model)


def _analysis(model: Model):
    """The panels' analysis of a new version, without the model and its layers (the parent has them),
    or None if it fails: the window then analyses the version itself and says what went wrong."""
    from dataclasses import replace

    from studio.core.project.analysis import analyze
    from studio.core.process.jobs import run_to_end

    try:
        return replace(run_to_end(analyze(model)), model=None, layers=[])
    except Exception:  # told by the window's own analysis, which fails the same way
        return None


def _name(spec) -> str:
    return spec["path"] if isinstance(spec, dict) else str(spec)
