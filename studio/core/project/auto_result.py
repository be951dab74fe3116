"""What `studio auto` finds: each candidate, the search's progress, the result (the best, why the search
stopped) and the best written as files (best.onnx, its card, best.yaml, auto.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.deliver.deploy import export_version
from studio.core.deliver.export import atomic_write
from studio.core.evaluate.data import DataSet
from studio.core.formats.model import Model
from studio.core.formats.to_onnx import DEFAULT_OPSET
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress
from studio.core.project.auto_goal import Goal, candidate_line
from studio.core.project.auto_propose import Steps
from studio.core.project.recipe import Recipe, StepResult


@dataclass
class Candidate:
    index: int
    name: str
    steps: Steps
    metrics: dict
    status: str  # "met", "missed", "failed" or "stopped"
    reason: str = ""  # what held it back, or why it failed
    seconds: float = 0.0
    version: StepResult | None = field(default=None, repr=False)  # kept for the best only
    made: list[StepResult] | None = field(default=None, repr=False)  # every step's version from the start (the best only)

    def line(self) -> str:
        return candidate_line(self.index, self.name, self.metrics, self.status, self.reason)


@dataclass
class SearchProgress(Progress):
    """The search's progress: candidates done (the original not counted) and planned so far, the one that just
    finished, without its model (a window shows each as it comes), and the index of the best so far."""

    done: int = 0
    planned: int = 0
    candidate: Candidate | None = None
    best: int = 0


@dataclass
class AutoResult:
    goal: Goal
    metric: str
    model: str
    data: str | dict
    device: str
    original: dict  # the fp32 ONNX export's own metrics
    candidates: list[Candidate]
    best: Candidate
    stopped: str  # "met", "budget", "cancelled" or "searched" (nothing left worth trying)
    elapsed_s: float
    notes: list[str]
    written: dict | None = None  # the files of the best, once written (write_best)
    source: Model | None = field(default=None, repr=False)  # the original as loaded…
    data_set: DataSet | None = field(default=None, repr=False)  # …and the data, for writing the best

    @property
    def met(self) -> bool:
        return self.best.status == "met"

    def recipe(self, candidate: Candidate, export: dict | None = None) -> Recipe:
        return Recipe(self.model, self.data, self.device, list(candidate.steps), export)

    def summary(self) -> str:
        b = self.best
        head = (f"goal met: {b.name}" if self.met else
                f"goal NOT met: the closest is {b.name} ({b.reason or b.status})")
        how = {"met": "", "budget": "; the time budget ran out", "cancelled": "; cancelled",
               "searched": "; nothing left that could do better"}[self.stopped]
        return f"{head}; {len(self.candidates) - 1} candidates in {self.elapsed_s:.0f} s{how}"

    def to_json(self) -> dict:
        best = {"name": self.best.name, "path": None if self.written is None else self.written["path"],
                "recipe": self.recipe(self.best, None if self.written is None else self.written["export"]).to_dict(),
                "metrics": self.best.metrics, "status": self.best.status, "held_back": self.best.reason if not self.met else ""}
        if self.written:
            best.update(yaml=self.written["yaml"], card=self.written["card"], export=self.written["metrics"])
        return {"goal": self.goal.to_json(self.metric), "met": self.met, "best": best,
                "candidates": [{"name": c.name, "recipe": self.recipe(c).to_dict(), "metrics": c.metrics, "status": c.status,
                                "reason": c.reason, "seconds": round(c.seconds, 2)} for c in self.candidates],
                "original": self.original, "stopped": self.stopped, "elapsed_s": round(self.elapsed_s, 1),
                "notes": self.notes, "summary": self.summary()}


BEST = "best"


def write_best(result: AutoResult, out_dir: Path, cancel: CancelToken = NO_CANCEL) -> Job[dict]:
    """DIR/best.onnx with its model card (measured again, as every export is), DIR/best.yaml (the recipe
    that `studio run` replays to make it) and DIR/auto.json (the whole search)."""
    best, zip_too, original = result.best, result.goal.size == "zip", result.source
    path = out_dir / f"{BEST}.onnx"
    model = best.version.model if best.version is not None else original
    job = export_version(model, path, result.data_set, result.device, opset=DEFAULT_OPSET, with_zip=zip_too,
                         steps=[{op: o} for op, o in best.steps], original=original, cancel=cancel)
    export = yield from job
    recipe = result.recipe(best, {"path": path.name, "opset": DEFAULT_OPSET, "zip": zip_too})
    head = (f"# Found by `studio auto` ({result.goal.describe()}): {best.name}; goal {'met' if result.met else 'NOT met'}.\n"
            f"# Replay it: studio run {BEST}.yaml\n")
    yaml_path = out_dir / f"{BEST}.yaml"
    atomic_write(yaml_path, (head + recipe.to_yaml()).encode())
    result.written = {"path": str(path), "yaml": str(yaml_path), "card": export["card"], "export": recipe.export,
                      "metrics": export["metrics"]}
    atomic_write(out_dir / "auto.json", (json.dumps(result.to_json(), indent=2, default=str) + "\n").encode())
    return result.written
