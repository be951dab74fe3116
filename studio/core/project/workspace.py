"""The work on one model, without a window: its versions, the current one, the data and device they
run on, and the jobs that measure and compress them. The window is a view of a Workspace (it forwards
actions and shows the state); the command line's `studio run` uses the same step loop (recipe.run_steps).

Jobs are module-level generators, so that they run the same on a worker thread or in a forked child."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace

from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.evaluate.text_data import with_tokenizer
from studio.core.formats.model import Model
from studio.core.inspect.layers import layers_of
from studio.core.process.isolated import isolated
from studio.core.process.jobs import Job, Progress, run_to_end
from studio.core.project.analysis import ModelInfo, analyze
from studio.core.project.project_file import Project
from studio.core.project.recipe import StepResult, run_steps, step_metrics, with_speed
from studio.core.project.steps import Context
from studio.core.project.versions import History, Version


@dataclass
class Removed:
    """What deleting a version took away: all that putting it back needs."""

    versions: dict[int, Version]  # the version and those made from it, metrics and all
    charts: dict  # their live charts
    measured_on: dict[int, str]  # the data each was measured on
    current: int  # the version current before
    profiles: dict = field(default_factory=dict)  # their profiles


@dataclass
class Workspace:
    history: History | None = None
    current: int | None = None
    data: str | dict | None = None  # a data spec, as a recipe writes it
    device: str = "cpu"
    charts: dict = field(default_factory=dict)  # "v3": {metric: [[seconds, value], …]}: the live charts of the run that made v3
    measured_on: dict[int, str] = field(default_factory=dict)  # vid → the data spec its outputs were computed on
    profiles: dict = field(default_factory=dict)  # "v3": v3's time profile as plain values (the window's to read and write)

    @property
    def version(self) -> Version | None:
        return None if self.history is None or self.current is None else self.history.versions[self.current]

    def owns(self, model: Model) -> bool:
        return self.history is not None and any(v.model is model for v in self.history.versions.values())

    def begin(self, model: Model, data) -> None:
        """A newly opened model becomes v0 of a new history (measured later, on `data`)."""
        self.history, self.charts, self.measured_on, self.data = History(), {}, {}, with_tokenizer(data, model)
        self.profiles = {}
        self.history.add(StepResult("load", {}, "original", model, {}), None, "v0 original")
        self.current = 0

    def restore(self, project: Project) -> None:
        self.history, self.data, self.device, self.charts = project.history, project.data, project.device, project.charts
        self.profiles = project.profiles
        self.current = project.current if project.current in project.history.versions else min(project.history.versions)
        self.measured_on = {vid: spec_key(self.data) for vid in self.history.versions}

    def project(self) -> Project:
        return Project(self.history, self.data, self.device, self.current, self.charts, self.profiles)

    def select(self, vid: int) -> bool:
        """Whether the current version changed."""
        if vid == self.current or self.history is None or vid not in self.history.versions:
            return False
        self.current = vid
        return True

    def rename(self, vid: int, label: str) -> None:
        self.history.versions[vid].label = label

    def family(self, vid: int) -> list[int]:
        """The version and every version made from it: what delete() removes."""
        family = [vid]
        for v in family:
            family += [c.id for c in self.history.children(v)]
        return family

    def delete(self, vid: int) -> Removed:
        """Remove a version and the versions made from it, never the original (its parent becomes current
        when the current version was among them); returns all that undelete() needs to put them back."""
        if self.history.versions[vid].parent is None:
            raise ValueError("the original version stays")
        family = self.family(vid)
        removed = Removed({v: self.history.versions.pop(v) for v in family},
                          {f"v{v}": self.charts.pop(f"v{v}") for v in family if f"v{v}" in self.charts},
                          {v: self.measured_on.pop(v) for v in family if v in self.measured_on}, self.current,
                          {f"v{v}": self.profiles.pop(f"v{v}") for v in family if f"v{v}" in self.profiles})
        if self.current in family:
            self.current = removed.versions[vid].parent
        return removed

    def undelete(self, removed: Removed) -> None:
        """Deleted versions back as they were (Edit → Undo), and current again the version that was
        current when they went. Ids are never reused, so none was taken meanwhile."""
        merged = sorted({**self.history.versions, **removed.versions}.items())
        self.history.versions.clear()  # in place and in id order, as a history always is
        self.history.versions.update(merged)
        self.charts.update(removed.charts)
        self.profiles.update(removed.profiles)
        self.measured_on.update(removed.measured_on)
        self.select(removed.current)

    def set_data(self, spec) -> bool:
        """Whether the data changed. Text data names the tokenizer of the model open (text_data.with_tokenizer)."""
        spec = with_tokenizer(spec, self.history.versions[0].model if self.history and 0 in self.history.versions else None)
        if spec == self.data:
            return False
        self.data = spec
        return True

    @property
    def only_the_original(self) -> bool:
        return self.history is not None and list(self.history.versions) == [0]

    def measured(self, model: Model, metrics: dict, outputs) -> bool:
        """The original measured on the current data; False if another model is open by now."""
        v0 = self.history.versions.get(0) if self.history else None
        if v0 is None or v0.model is not model:
            return False
        v0.result = replace(v0.result, metrics=metrics, logits=outputs)
        self.measured_on[0] = spec_key(self.data)
        return True

    def needs_reference(self, base: Version) -> bool:
        """Whether `base` was measured on other data than the current: a run must measure it again first."""
        return self.measured_on.get(base.id) != spec_key(self.data)

    def add(self, base: Version, results: list[StepResult], spec, points: dict) -> list[Version] | None:
        """The versions a run on `base` made, each from the last; None if `base` was deleted meanwhile."""
        if self.history is None or self.history.versions.get(base.id) is not base:
            return None
        added, parent = [], base.id
        for result in results:
            with_speed(result.metrics, self.history.versions[0].metrics)
            version = self.history.add(result, parent)
            self.measured_on[version.id] = spec_key(spec)
            self.charts[f"v{version.id}"] = {k: list(v) for k, v in points.items()}
            added.append(version)
            parent = version.id
        self.current = parent
        return added


# ---- data specs --------------------------------------------------------------------------------------


def spec_key(spec) -> str:
    return json.dumps(spec, sort_keys=True)


def spec_name(spec) -> str:
    return spec["path"] if isinstance(spec, dict) else str(spec)


def needs_output(error: Exception) -> bool:
    """The data is labelled and several of the model's outputs could hold its classes: the data spec
    must name one (studio.core.evaluate.metrics.class_output)."""
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


@functools.lru_cache(maxsize=4)
def _load(key: str):
    return load_data(json.loads(key))


def dataset(spec):
    """The data set of a spec, loaded once and kept for later runs."""
    return None if spec is None else _load(spec_key(spec))


# ---- jobs ------------------------------------------------------------------------------------------------


def with_data(job, spec, *args, cancel, fork: bool = True):
    """A job on the workspace's data: the data set loads here (once, kept for later runs), then
    job(data, *args) runs in a forked child (process.isolated), which inherits it, so that a window
    keeps Python's lock to itself while the job computes."""
    yield Progress(0, 1, "loading the data" if spec else "starting")
    data = dataset(spec)
    return (yield from (isolated(job) if fork else job)(data, *args, cancel=cancel))


def measure_job(model: Model, spec, device: str, cancel):
    """The metrics of the original on the data, and its outputs. Runs where it was started (a worker
    thread) unless on a GPU (CUDA starts only in children) or an ONNX model is run on data: ONNX
    Runtime takes its model serialised, and protobuf holds Python's lock while it serialises."""
    fork = device != "cpu" or (spec is not None and model.onnx is not None)
    return (yield from with_data(_measure, spec, model, spec, device, cancel=cancel, fork=fork))


def _measure(data, model: Model, spec, device: str, cancel):
    yield Progress(0, 1, f"measuring {model.name}" + (f" on {spec_name(spec)}" if spec else ""))
    metrics, outputs = step_metrics(model, data, None, device)
    yield Progress(1, 1, "measured", metrics)
    return metrics, outputs


def steps_job(previous: StepResult, steps: list, spec, device: str, refresh: bool, cancel) -> Job:
    """Each new version, and the panels' analysis (ModelInfo) of the last one, made in the child. The
    layers, views of the weights, are taken here rather than sent twice."""
    results, info = yield from with_data(_steps, spec, previous, steps, device, refresh, cancel=cancel)
    model = results[-1].model
    return results, info and replace(info, model=model, layers=layers_of(model))


def _steps(data, previous: StepResult, steps: list, device: str, refresh: bool, cancel):
    if refresh:  # the version was measured on other data: its outputs on this data are the reference
        previous = replace(previous, logits=step_metrics(previous.model, data, None, device)[1])
    results = yield from run_steps(previous, steps, Context(data, device, cancel, original=previous.model))
    return results, _analysis(results[-1].model)


def _analysis(model: Model) -> ModelInfo | None:
    """The panels' analysis of a new version, without the model and its layers (the parent has them),
    or None if it fails: the window then analyses the version itself and says what went wrong."""
    try:
        return replace(run_to_end(analyze(model)), model=None, layers=[])
    except Exception:  # told by the window's own analysis, which fails the same way
        return None
