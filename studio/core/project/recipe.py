"""Recipes (README: Recipes; the keys are stable): parse and validate a YAML file, and replay it headless.

The window records every action as the equivalent step, so File → Save recipe and `studio run` give
the same result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from studio.core.deliver.deploy import export_version
from studio.core.errors import StudioError, first_line
from studio.core.evaluate.data import DataSet, load_data
from studio.core.evaluate.latency import relative_speed, version_latency
from studio.core.evaluate.measure import size_metrics
from studio.core.evaluate.metrics import accuracy, fidelity, is_embedding, scored
from studio.core.evaluate.runtime import resolve_device, runtime_name
from studio.core.formats.load import load_model
from studio.core.formats.model import Model
from studio.core.inspect.layers import layers_of
from studio.core.inspect.stats import model_stats
from studio.core.process.distributed import init_from_environment, is_main_process
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress, offset
from studio.core.project.schema import Field, validate
from studio.core.project.steps import OPS, Context

TOP_LEVEL = ("model", "data", "device", "steps", "export")
EXPORT_FIELDS = {
    "path": Field(str, None),
    "opset": Field(int, 17, 7, 23),
    "zip": Field(bool, False),
    "sparse": Field(bool, False),
}


@dataclass
class Recipe:
    model: str
    data: str | dict | None = None
    device: str = "cpu"
    steps: list[tuple[str, dict]] = field(default_factory=list)
    export: dict | None = None

    def to_dict(self) -> dict:
        out: dict = {"model": self.model}
        if self.data is not None:
            out["data"] = self.data
        out["device"] = self.device
        out["steps"] = [{op: options} for op, options in self.steps]
        if self.export:
            out["export"] = self.export
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


@dataclass
class StepResult:
    op: str
    options: dict
    label: str
    model: Model
    metrics: dict
    logits: list[np.ndarray] | None = None  # every output on the test split, the class output first: the next step's reference


@dataclass
class RunResult:
    steps: list[StepResult]
    export: dict | None
    source_notes: list[str] = field(default_factory=list)  # what the loaded model said of itself, not repeated per step

    def to_json(self) -> dict:
        return {"steps": [{"op": s.op, "metrics": s.metrics, "notes": self.notes(i)} for i, s in enumerate(self.steps)],
                "export": self.export}

    def notes(self, i: int) -> list[str]:
        """What step i's version says of itself that the version before it did not (what stayed float, and why)."""
        before = set(self.steps[i - 1].model.notes if i else self.source_notes)
        return [n for n in self.steps[i].model.notes if n not in before]


def load_recipe(path: str) -> Recipe:
    p = Path(path)
    if not p.is_file():
        raise StudioError("no such recipe file", path)
    try:
        raw = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise StudioError(f"not valid YAML ({first_line(e)})", path) from None
    try:
        recipe = parse_recipe(raw)
    except StudioError as e:
        raise StudioError(e.problem, path) from None
    recipe.model = _beside(p, recipe.model)
    if isinstance(recipe.data, dict) and isinstance(recipe.data.get("path"), str):
        recipe.data = {**recipe.data, "path": _beside(p, recipe.data["path"])}
    elif isinstance(recipe.data, str):
        recipe.data = _beside(p, recipe.data)
    if recipe.export:
        recipe.export["path"] = _beside(p, recipe.export["path"])
    return recipe


def _beside(recipe_path: Path, path: str) -> str:
    """Relative paths in a recipe are relative to the recipe file's folder."""
    if path.startswith("sample:") or Path(path).is_absolute():
        return path
    return str(recipe_path.parent / path)


def parse_recipe(raw) -> Recipe:
    if not isinstance(raw, dict):
        raise StudioError("a recipe is a mapping with at least 'model' and 'steps'")
    unknown = sorted(set(raw) - set(TOP_LEVEL))
    if unknown:
        raise StudioError(f"unknown key {unknown[0]!r} (known: {', '.join(TOP_LEVEL)})")
    if not isinstance(raw.get("model"), str) or not raw["model"]:
        raise StudioError("model: expected a path or sample:NAME")
    data = raw.get("data")
    if data is not None and not isinstance(data, (str, dict)):
        raise StudioError("data: expected a path, sample:NAME, or {path: …, labels: none}")
    device = raw.get("device", "cpu")
    if device not in ("cpu", "cuda"):
        raise StudioError(f"device: {device!r} is not one of cpu, cuda")
    steps_raw = raw.get("steps") or []
    if not isinstance(steps_raw, list):
        raise StudioError("steps: expected a list of steps like '- prune: {sparsity: 0.9}'")
    steps = []
    for i, step in enumerate(steps_raw):
        if not isinstance(step, dict) or len(step) != 1:
            raise StudioError(f"steps[{i}]: expected one operation like 'prune: {{…}}'")
        ((op, options),) = step.items()
        if op not in OPS:
            raise StudioError(f"steps[{i}]: unknown operation {op!r} (known: {', '.join(OPS)})")
        steps.append((op, OPS[op].validate(f"steps[{i}].{op}", options)))
        if OPS[op].needs_data and data is None:
            raise StudioError(f"steps[{i}].{op}: needs data: add 'data: …' to the recipe")
    export = validate("export", raw["export"], EXPORT_FIELDS) if raw.get("export") is not None else None
    if export is not None and not export["path"]:
        raise StudioError("export.path: where to write the ONNX file")
    return Recipe(raw["model"], data, device, steps, export)


def step_metrics(model: Model, data: DataSet | None, previous: list[np.ndarray] | None,
                 device: str) -> tuple[dict, list[np.ndarray] | None]:
    """Size metrics, plus accuracy / fidelity to the previous version on the test split. Returns the
    metrics and this version's test outputs, the class output first (the next step's reference)."""
    metrics = size_metrics(model)
    if data is None or (model.module is None and model.onnx is None):
        return metrics, None
    test = data.test()
    outputs, index = scored(model, test, device)
    metrics["runtime"] = runtime_name(model, device)
    metrics.update(version_latency(model, data, device))
    if test.labeled:
        metrics["accuracy"] = accuracy(outputs[0], test.y)
    if previous is not None:
        metrics.update(fidelity(outputs, previous, not is_embedding(model, index)))
    return metrics, outputs


def run_step(previous: StepResult, op: str, options: dict, ctx: Context) -> Job[StepResult]:
    """One operation on the previous version, then its metrics: the unit of a recipe and of a window action."""
    spec = OPS[op]
    broken = model_stats(layers_of(previous.model)).nonfinite
    if broken:
        raise StudioError(f"{broken:,} weights are NaN or infinite: {op} needs a model with finite weights", previous.model.source)
    model = yield from spec.run(previous.model, options, ctx)
    ctx.cancel.check()
    yield Progress(1, 1, "measuring the new version")
    metrics, logits = step_metrics(model, ctx.data, previous.logits, ctx.device)
    if previous.metrics.get("size_bytes"):  # > 1: larger than the version it came from, and said so
        metrics["size_ratio"] = metrics["size_bytes"] / previous.metrics["size_bytes"]
    yield Progress(1, 1, "done", metrics)
    return StepResult(op, options, spec.describe(options), model, metrics, logits)


def with_speed(metrics: dict, original: dict) -> dict:
    """`speedup`: how many times faster than the original at batch 1 (< 1: slower), when both ran in one runtime."""
    speed = relative_speed(metrics, original)
    if speed is not None:
        metrics["speedup"] = speed
    return metrics


def run_steps(previous: StepResult, steps: list[tuple[str, dict]], ctx: Context) -> Job[list[StepResult]]:
    """Steps one after the other, each on the version the last one made: the loop of a recipe and of a
    window's run. The progress bar gives each step its share of the work: its epochs."""
    trains = lambda op, o: op in ("finetune", "distill") or o.get("schedule") == "gradual" or o.get("mode") == "qat"  # noqa: E731
    spans = [1 + options.get("epochs", 0) * trains(op, options) for op, options in steps]
    results = []
    for i, (op, options) in enumerate(steps):
        prefix = f"step {i + 1} of {len(steps)}, {op}: " if len(steps) > 1 else ""
        results.append((yield from offset(run_step(previous, op, options, ctx), sum(spans[:i]), sum(spans), prefix, spans[i])))
        previous = results[-1]
    return results


def run_recipe(recipe: Recipe, *, trust: bool = False, device: str | None = None,
               cancel: CancelToken = NO_CANCEL) -> Job[RunResult]:
    device = init_from_environment(resolve_device(device or recipe.device))
    n = len(recipe.steps) + 1 + bool(recipe.export)
    yield Progress(0, n, f"loading {recipe.model}")
    model = load_model(recipe.model, trust=trust)
    data = load_data(recipe.data, tokenizer=model.tokenizer) if recipe.data is not None else None  # text: the model folder's tokenizer
    ctx = Context(data, device, cancel, original=model)
    metrics, logits = step_metrics(model, data, None, device)
    results = [StepResult("load", {}, "original", model, metrics, logits)]
    yield Progress(1, n, "loaded" + (f"; data: {data.description}" if data is not None and data.description else ""), metrics)
    results += yield from offset(run_steps(results[-1], recipe.steps, ctx), 1, n, span=len(recipe.steps))
    for result in results[1:]:
        with_speed(result.metrics, results[0].metrics)
    model = results[-1].model
    export = None
    if recipe.export and is_main_process():
        job = export_version(model, Path(recipe.export["path"]), data, device, opset=recipe.export["opset"],
                             with_zip=recipe.export["zip"], sparse=recipe.export["sparse"],
                             steps=recipe.to_dict()["steps"], original=results[0].model, cancel=cancel)
        export = yield from offset(job, n - 1, n)
    return RunResult(results[1:], export, list(results[0].model.notes))

