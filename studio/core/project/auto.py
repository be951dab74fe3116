"""`studio auto`: tell it the goal, get the model. A time-boxed search for the recipe that makes a model as
much smaller and/or faster as asked while losing at most the accuracy allowed (README: Command line).

The search learns what is cheap first and spends its time where it counts:
1. the original's fp32 ONNX export is measured in ONNX Runtime: every candidate is compared with it;
2. one-shot quantizations (static and dynamic int8 with the float fallback for sensitive layers; fp16 for a
   2× goal) are tried: seconds each, and often enough;
3. the pruning families the model allows (channels; zeroed weights when the zipped size counts) are sized
   to the goal by bisection on untrained probes (size and speed do not depend on training), with the
   quantization that cost least as their tail; zeroed weights are also spread by per-layer sensitivity;
4. the arms are fine-tuned briefly, and the better half of them longer and longer (successive halving);
   when they miss on accuracy, distillation (a slimmer student taught by the original) and
   quantization-aware training join;
5. it stops when a round meets the goal, when nothing more can help, or at the end of the budget.
Every candidate is a plain recipe evaluated with the recipe loop (recipe.run_steps) and measured as the
ONNX file it would be; the best so far is always kept, so the budget always ends with an answer, and one
that misses the goal says so, with the closest candidate and what held it back.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from studio.core.compress.sensitivity import sensitivity
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet, load_data
from studio.core.evaluate.runtime import resolve_device
from studio.core.evaluate.text_data import with_tokenizer
from studio.core.formats.load import load_model
from studio.core.formats.model import Model
from studio.core.inspect.prunable import prunable_onnx, prunable_torch
from studio.core.process.jobs import NO_CANCEL, Cancelled, CancelToken, Job, Progress
from studio.core.project.auto_goal import Goal
from studio.core.project.auto_measure import Reference, as_onnx, measure, reference, speed
from studio.core.project.auto_propose import (
    SENSITIVITY_LAYERS_MAX,
    SENSITIVITY_LEVELS,
    Arm,
    Family,
    Steps,
    allowed,
    best_tail,
    families,
    name_of,
    near,
    one_shot,
    quantize,
    reaches,
    validated,
)
from studio.core.project.auto_result import AutoResult, Candidate, SearchProgress
from studio.core.project.auto_runner import Built, Finished, InProcess, Runner, Task
from studio.core.project.recipe import StepResult, run_steps, step_metrics
from studio.core.project.steps import Context

ROUNDS_MAX = 5  # fine-tuning rounds: 1, 2, 4, 8, 16 more epochs (31 in all for the last arm standing)
FIRST_EPOCHS = 1
QAT_EPOCHS = 2


class Deadline(CancelToken):
    """Cancelled when the budget runs out or the user cancels: the jobs that check it stop between batches."""

    def __init__(self, at: float, outer: CancelToken = NO_CANCEL):
        super().__init__()
        self.at, self.outer = at, outer

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    @property
    def cancelled(self) -> bool:
        return self.outer.cancelled or self.passed or self._event.is_set()

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled()


@dataclass
class _Built(Built):
    made: list = field(default_factory=list, repr=False)  # each step's result, from the task's start to its final one


def search(model_spec: str, data_spec: str | dict, goal: Goal, *, trust: bool = False, device: str = "cpu",
           input_shape: str | None = None, runner: Runner | None = None, cancel: CancelToken = NO_CANCEL,
           on_candidate=None, model: Model | None = None, data: DataSet | None = None) -> Job[AutoResult]:
    """The search as a job: progress over the budget's seconds (SearchProgress: each candidate also comes with
    the event after it ends, and is given to `on_candidate`), and the result (the best, every candidate, why it
    stopped). `cancel` stops it with the best so far. `data_spec` is a recipe's `data` (a path or sample:NAME,
    or {path, labels: none, output: NAME}); `model` and `data`, when given, are those already loaded (a window's
    version and data set), and the specs only name them."""
    start = time.monotonic()
    deadline = Deadline(start + goal.budget_s, cancel)
    device = resolve_device(device)
    yield Progress(0, goal.budget_s, f"loading {model_spec}")
    original = model if model is not None else load_model(model_spec, trust=trust, input_shape=input_shape)
    data_spec = with_tokenizer(data_spec, original)  # text is read by the folder's tokenizer, and its recipes say so
    data = data if data is not None else load_data(data_spec)
    if not len(data.test()):
        raise StudioError("no test examples to measure accuracy on (every fifth example is a test example)", data.name)
    yield Progress(time.monotonic() - start, goal.budget_s, "measuring the original's ONNX export in ONNX Runtime")
    ref = reference(original, data, device)
    metrics, logits = step_metrics(original, data, None, device)
    base = StepResult("load", {}, "original", original, metrics, logits)
    s = _Search(goal, original, data, ref, base, Context(data, device, deadline, original=original), runner or InProcess(),
                deadline, start, on_candidate)
    c = s.record(Finished(Task(None, name_of([]), base, [], [], steps=[]), Built(base, base, ref.onnx, ref.metrics()), "done"),
                 timed=False)
    yield s.progress("measured the original", c)
    try:
        yield from s.run()
    except Cancelled:
        pass  # cancelled or out of time outside a candidate: the best so far stands
    stopped = ("cancelled" if cancel.cancelled else "met" if s.best.status == "met" else
               "budget" if deadline.passed or s.refused else "searched")
    return AutoResult(goal, ref.metric, _absolute(model_spec), _absolute_data(data_spec), device, ref.metrics(), s.candidates,
                      s.best, stopped, time.monotonic() - start, s.notes + s.advice(), source=original, data_set=data)


class _Search:
    def __init__(self, goal: Goal, original: Model, data: DataSet, ref: Reference, base: StepResult, ctx: Context,
                 runner: Runner, deadline: Deadline, start: float, on_candidate):
        self.goal, self.original, self.data, self.ref, self.base, self.ctx = goal, original, data, ref, base, ctx
        self.runner, self.deadline, self.start, self.on_candidate = runner, deadline, start, on_candidate
        self.candidates: list[Candidate] = []
        self.best: Candidate | None = None
        self.notes: list[str] = []
        self.refused = False  # a task was not started for lack of time
        self.families: list[Family] = []
        self.sensitive: dict[float, dict | None] = {}  # sparsity → per-layer sparsities by sensitivity
        self.ok = None  # what the model allows (auto_propose.Allowed), once known
        self.base_onnx: StepResult | None = None  # the original's ONNX export as a start: quantizing it exports nothing again
        self.planned = 0  # candidates finished or waiting in this round
        self.chains: dict[int, tuple[StepResult, list[StepResult]]] = {}  # id(arm body) → (it, each step's result up to it)

    # ---- the phases ----

    def run(self) -> Job[None]:
        goal, ok = self.goal, allowed(self.original, self.data)
        self.ok = ok
        tried = [(c.steps, c.metrics) for _, c, _ in (yield from self.evaluate([self.task(None, steps) for steps in one_shot(ok, goal)]))
                 if c.metrics]
        if not ok.quantize:
            self.notes.append(f"quantization: {ok.why_not.get('quantize', 'not allowed')}")
        if self.done():
            return
        tail = best_tail(goal, tried)
        self.families, why = families(ok, goal, tail)
        self.notes += [f"{kind}: not tried ({reason})" for kind, reason in why.items()]
        yield from self.size(self.families)
        if self.done():
            return
        arms = yield from self.arms(ok)
        yield from self.halve(arms, ok, tried)

    def size(self, fams: list[Family]) -> Job[None]:
        """Bisection of each family's amount on untrained probes, the families side by side."""
        while not self.deadline.cancelled:
            probes = [(f, f.next_probe()) for f in fams if not f.done and not f.failed]
            if not probes:
                return
            tasks = [self.task((f, amount), f.prune(amount) + _probe_tail(f.tail)) for f, amount in probes]
            for task, c, _ in (yield from self.evaluate(tasks)):
                family, amount = task.arm
                if c.status == "failed":
                    family.failed = c.reason
                    self.notes.append(f"{family.kind}: left out ({c.reason})")
                elif c.status != "stopped":
                    family.record(self.goal, amount, c.metrics)

    def arms(self, ok) -> Job[list[Arm]]:
        out = []
        for f in self.families:
            if f.failed or (not ok.trains and not f.tail):
                continue  # an untrained arm without a tail is its own sizing probe, already measured
            name = name_of(f.prune(f.amount))
            out.append(Arm(name, f.prune(f.amount), f.tail, ok.trains, reachable=f.reachable))
            if f.kind == "sparsity" and _layer_count(self.original) <= SENSITIVITY_LAYERS_MAX:
                if f.amount not in self.sensitive:
                    self.sensitive[f.amount] = yield from self.layer_sparsities(f.amount)
                layers = self.sensitive[f.amount]
                if layers:
                    out.append(Arm(name + " by layer sensitivity", f.prune(f.amount, layers), f.tail, ok.trains, reachable=f.reachable))
        if not ok.trains:
            self.notes.append(f"fine-tuning: not possible ({ok.why_not.get('finetune', 'not allowed')}): pruned candidates are untrained")
        if any(a.reachable for a in out):  # training time goes to the arms that can meet the goal
            out = [a for a in out if a.reachable]
        return out

    def layer_sparsities(self, amount: float) -> Job[dict | None]:
        """Per-layer sparsities reaching `amount` overall that spare the layers that lose most when pruned
        (compress/sensitivity): each layer pruned alone at a few levels, on the test split."""
        job = sensitivity(self.original, self.data, self.ctx.device, SENSITIVITY_LEVELS, cancel=self.deadline)
        try:
            while True:
                event = next(job)
                yield self.progress(f"layer sensitivity: {event.message}")
        except StopIteration as done:
            if not done.value.scores:  # e.g. weights in Constant nodes, which the analysis does not try
                self.notes.append("layer sensitivity: skipped (no layer it can prune alone)")
                return None
            return done.value.suggest(amount)
        except Cancelled:
            raise
        except (StudioError, ValueError, RuntimeError) as e:
            self.notes.append(f"layer sensitivity: skipped ({e})")
            return None

    def halve(self, arms: list[Arm], ok, tried) -> Job[None]:
        """Successive halving: every arm trained briefly, then the better half of them longer, and so on."""
        epochs, escalated = FIRST_EPOCHS, False
        for _ in range(ROUNDS_MAX):
            live = sorted((a for a in arms if a.alive), key=lambda a: self.goal.key(a.last.metrics) if a.last and a.last.metrics else (0,))
            if not live or self.deadline.cancelled:
                return
            self.chains = {id(a.state): self.chains[id(a.state)] for a in live if id(a.state) in self.chains}  # the dead arms' go
            tasks = []
            for a in live:
                body = a.next_steps(epochs)
                start = self.base if a.state is None else a.state
                tasks.append(Task(a, name_of(a.steps + body + a.tail), start, body, a.tail, steps=a.steps + body + a.tail))
            ran = []
            for task, c, built in (yield from self.evaluate(tasks, admit=lambda t: self.fits(t.arm.estimate(epochs)))):
                arm = task.arm
                if built is None:
                    arm.alive = False
                    continue
                arm.state, arm.steps, arm.last, arm.seconds = built.body, arm.steps + task.body, c, c.seconds
                arm.epochs, arm.last_epochs, arm.last_tail_drop = arm.epochs + epochs, epochs, built.tail_drop
                arm.alive = arm.trains
                ran.append(arm)
            if self.done() or not ran:
                return
            if not any(a.reachable or near(self.goal, a.last.metrics) for a in ran):
                return  # training wins back accuracy, not size or speed: advice() says what would
            if not escalated:
                arms += self.escalations(arms, ok, tried)
                escalated = True
            ranked = sorted((a for a in ran if a.alive), key=lambda a: self.goal.key(a.last.metrics))
            for a in ranked[math.ceil(len(ranked) / 2):]:
                a.alive = False
            epochs *= 2

    def escalations(self, arms: list[Arm], ok, tried) -> list[Arm]:
        """When the cheap arms miss on accuracy: distillation for the channel arms, quantization-aware
        training where the int8 step is what costs the accuracy."""
        out = []
        for a in arms:
            if not a.last or not a.last.metrics or self.goal.gaps(a.last.metrics)["drop"] == 0:
                continue
            prune = a.first[0][1]
            if ok.distill and prune.get("method") == "channels":
                width = round(1 - prune["ratio"], 4)
                first = [("distill", {"student": {"width": width}})]
                out.append(Arm(name_of(first), first, a.tail, True, reachable=a.reachable))
            if ok.trains and a.tail and a.tail[0][1].get("mode") in ("static", "dynamic") and a.last_tail_drop > self.goal.max_drop / 2:
                a.tail = [quantize("qat", epochs=QAT_EPOCHS)]
        if ok.trains and ok.quantize:
            for _, m in tried:
                if reaches(self.goal, m) and self.goal.gaps(m)["drop"] > 0:
                    first = [quantize("qat", epochs=QAT_EPOCHS)]
                    out.append(Arm(name_of(first), first, [], False))
                    break
        return out

    # ---- running and recording candidates ----

    def task(self, arm, steps: Steps) -> Task:
        start = self.base
        if steps and steps[0][0] == "quantize" and steps[0][1].get("mode") != "qat" and self.original.onnx is None:
            if self.base_onnx is None:  # what the quantize step would export first: done once, for all of them
                metrics, logits = step_metrics(self.ref.onnx, self.data, None, self.ctx.device)
                self.base_onnx = StepResult("load", {}, "original", self.ref.onnx, metrics, logits)
            start = self.base_onnx
        return Task(arm, name_of(steps), start, steps, [], steps=steps)

    def evaluate(self, tasks: list[Task], admit=None) -> Job[list[tuple[Task, Candidate, Built | None]]]:
        out = []

        def admitted(task: Task) -> bool:
            ok = not self.deadline.cancelled and (admit is None or admit(task))
            self.refused |= not ok and not self.deadline.outer.cancelled
            return ok

        self.planned = len(self.candidates) + len(tasks)
        for event in self.runner.run(tasks, self.build, self.deadline, admitted):
            if isinstance(event, Finished):
                c = self.record(event)
                out.append((event.task, c, event.built))
                yield self.progress(f"{c.name}: {c.status}", c)
            else:
                yield self.progress(event.message)
        self.planned = len(self.candidates)
        return out

    def build(self, task: Task, *, cancel: CancelToken) -> Job[Built]:
        """A task's steps through the recipe loop, then the result measured as its ONNX file."""
        ctx = replace(self.ctx, cancel=cancel)
        made = (yield from run_steps(task.start, validated(task.body), ctx)) if task.body else []
        body = made[-1] if made else task.start
        made += (yield from run_steps(body, validated(task.tail), ctx)) if task.tail else []
        final = made[-1] if made else body
        cancel.check()
        yield Progress(1, 1, "measuring it as an ONNX file in ONNX Runtime")
        onnx = as_onnx(final.model, self.data)
        metrics = measure(onnx, self.ref, self.data, self.goal.size, ctx.device)
        return _Built(body, final, onnx, metrics, _tail_drop(body, final) if task.tail else 0.0, made=made)

    def record(self, finished: Finished, timed: bool = True) -> Candidate:
        built = finished.built
        metrics, status, reason = {}, finished.status, finished.reason
        if built is not None:
            metrics = dict(built.metrics)
            if timed:
                try:
                    metrics.update(speed(built.onnx, self.ref, self.data, self.goal.batch))
                except (StudioError, ValueError) as e:
                    reason = f"not timed: {e}"
            metrics["epochs"] = sum(o.get("epochs", 0) for op, o in finished.task.steps if op in ("finetune", "distill")
                                    or o.get("mode") == "qat")
            status = "met" if self.goal.met(metrics) else "missed"
            reason = reason or self.goal.held_back(metrics)
        c = Candidate(len(self.candidates), finished.task.name, finished.task.steps, metrics, status, reason, finished.seconds,
                      None if built is None else built.final, self.made(finished))
        self.candidates.append(c)
        if metrics and (self.best is None or self.goal.key(metrics) < self.goal.key(self.best.metrics)):
            if self.best is not None:
                self.best.version = self.best.made = None  # only the best keeps its model
            self.best = c
        elif c is not self.best:
            c.version = c.made = None
        if self.on_candidate is not None:
            self.on_candidate(c)
        return c

    def made(self, finished: Finished) -> list[StepResult] | None:
        """Each step's version from the search's start to the candidate's last (None when the runner did not
        say): a window adds them as versions, so that the recipe of the last one is the candidate's. The
        chains of the arms that train on are kept until they die."""
        built, start = finished.built, finished.task.start
        if not isinstance(built, _Built):
            return None
        before = self.chains.get(id(start), (None, []))
        made = (before[1] if before[0] is start else []) + built.made
        if isinstance(finished.task.arm, Arm):
            self.chains[id(built.body)] = (built.body, made[:len(made) - len(finished.task.tail)])
        return made

    # ---- time and stopping ----

    def fits(self, seconds: float) -> bool:
        return time.monotonic() + seconds <= self.deadline.at

    def done(self) -> bool:
        return (self.best is not None and self.best.status == "met") or self.deadline.cancelled

    def progress(self, message: str, candidate: Candidate | None = None) -> SearchProgress:
        elapsed = time.monotonic() - self.start
        best = f" | best so far: {self.best.name}" if self.best is not None and self.best.index else ""
        told = None if candidate is None else replace(candidate, version=None, made=None)  # the model stays here
        return SearchProgress(min(elapsed, self.goal.budget_s), self.goal.budget_s, message + best,
                              done=max(len(self.candidates) - 1, 0), planned=max(self.planned - 1, len(self.candidates) - 1, 0),
                              candidate=told, best=0 if self.best is None else self.best.index)

    def advice(self) -> list[str]:
        """What would likely get there, when the goal was not met."""
        if self.best is None or self.best.status == "met":
            return []
        g = self.goal.gaps(self.best.metrics)
        out = []
        if g.get("drop") and (self.deadline.passed or self.refused):
            out.append("more time (--budget) lets the finalists train longer, which wins back accuracy")
        if (g.get("smaller") or g.get("faster")) and not any(f.reachable for f in self.families):
            tried = ", ".join(sorted({f.kind for f in self.families})) or "quantization"
            text = f"nothing the model allows ({tried}) reached the size or speed asked: a smaller goal would"
            if self.ok is not None and not self.ok.channels:
                text += ", or a PyTorch version of the model (channels can be removed from it)"
            out.append(text)
        return out


def _probe_tail(tail: Steps) -> Steps:
    """A sizing probe's quantization, without the float fallback (which ranks layers on data: slow, and
    pointless on an untrained probe)."""
    return [(op, {**o, "tolerance": 0.0}) if o.get("mode") in ("static", "dynamic") else (op, o) for op, o in tail]


def _tail_drop(body: StepResult, final: StepResult) -> float:
    """Points lost by the last quantization alone (its fidelity to the version it quantized without labels)."""
    if "accuracy" in body.metrics and "accuracy" in final.metrics:
        return (body.metrics["accuracy"] - final.metrics["accuracy"]) * 100
    return (1.0 - final.metrics.get("agreement", 1.0)) * 100


def _layer_count(model: Model) -> int:
    try:
        return len(prunable_torch(model.module)) if model.module is not None else len(prunable_onnx(model.onnx))
    except Exception:  # counting is advice only: a model it cannot read is not ranked
        return SENSITIVITY_LAYERS_MAX + 1


def _absolute(spec: str) -> str:
    return spec if spec.startswith("sample:") else str(Path(spec).resolve())


def _absolute_data(spec: str | dict) -> str | dict:
    if isinstance(spec, dict):
        return {**spec, "path": _absolute(spec["path"])} if isinstance(spec.get("path"), str) else spec
    return _absolute(spec)
