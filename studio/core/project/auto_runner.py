"""Who evaluates the automatic search's candidates: a small interface, so that candidates can run one after
the other here (the default), in forked children on several cores (ForkPool), or on another engine that
runs the same `build` job elsewhere.

A runner gets tasks and a `build` job (task, cancel=…) → Built, and yields the builds' Progress events and
a Finished for each task as it ends. A task that fails or is stopped is Finished with its reason: one
candidate's crash never ends the search. `admit` is asked before each task starts; once it says no, the
tasks left are not started (the search is out of time)."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

from studio.core.errors import OUT_OF_MEMORY, StudioError, first_line
from studio.core.process.isolated import isolated
from studio.core.process.jobs import Cancelled, CancelToken, Job, Progress, run_to_end


@dataclass
class Task:
    """Steps to run on a start version: `body` (kept, to continue training from) then `tail` (a quantization
    tried on the body; not kept)."""

    arm: Any  # the search's record of the candidate family this task belongs to
    name: str
    start: Any  # a recipe StepResult
    body: list[tuple[str, dict]]
    tail: list[tuple[str, dict]]
    steps: list[tuple[str, dict]] = field(default_factory=list)  # the candidate's whole recipe, from the original


@dataclass
class Built:
    body: Any  # StepResult after the body (the start when there is none)
    final: Any  # StepResult after the tail
    onnx: Any  # the final version as its ONNX file (Model)
    metrics: dict
    tail_drop: float = 0.0  # points lost by the tail alone


@dataclass
class Finished:
    task: Task
    built: Built | None
    status: str  # "done", "failed" or "stopped"
    reason: str = ""
    seconds: float = 0.0


Build = Callable[..., Job[Built]]


class Runner(Protocol):
    workers: int

    def run(self, tasks: list[Task], build: Build, cancel: CancelToken,
            admit: Callable[[Task], bool]) -> Generator[Progress | Finished, None, None]: ...


class InProcess:
    """One task after the other, in this process."""

    workers = 1

    def run(self, tasks, build, cancel, admit):
        for task in tasks:
            if cancel.cancelled or not admit(task):
                return
            start = time.monotonic()
            try:
                built = yield from build(task, cancel=cancel)
                yield Finished(task, built, "done", seconds=time.monotonic() - start)
            except BaseException as e:  # every failure is the candidate's, told in one line (finished_with re-raises the rest)
                yield finished_with(task, e, time.monotonic() - start)


class ForkPool:
    """Up to `workers` tasks at once, each in a child forked from this process (process/isolated): it starts
    with the model and data in memory and sends back the built candidate. The process must have been
    prepared to fork before PyTorch was imported (isolated.prepare_to_fork). The children share all cores
    but one, which stays with the search: it times each candidate's speed here, beside the original."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self.threads = max(1, ((os.cpu_count() or 2) - 1) // self.workers)

    def run(self, tasks, build, cancel, admit):
        job = isolated(_with_threads(build, self.threads))
        events: queue.Queue = queue.Queue()
        pending, running = list(tasks), 0

        def work(task: Task) -> None:
            start = time.monotonic()
            try:
                built = run_to_end(job(task, cancel=cancel), events.put)
                events.put(Finished(task, built, "done", seconds=time.monotonic() - start))
            except BaseException as e:  # a thread's failure goes to the search, not to stderr
                try:
                    events.put(finished_with(task, e, time.monotonic() - start))
                except BaseException:
                    events.put(Finished(task, None, "failed", type(e).__name__, time.monotonic() - start))

        while pending or running:
            while pending and running < self.workers and not cancel.cancelled:
                task = pending.pop(0)
                if not admit(task):
                    pending.clear()
                    break
                threading.Thread(target=work, args=(task,), daemon=True, name=f"candidate {task.name}").start()
                running += 1
            if not running:
                return
            event = events.get()
            if isinstance(event, Finished):
                running -= 1
            yield event


def _with_threads(build: Build, threads: int) -> Build:
    def child(task, *, cancel):
        import torch

        torch.set_num_threads(threads)
        return (yield from build(task, cancel=cancel))

    return child


def finished_with(task: Task, e: BaseException, seconds: float) -> Finished:
    if isinstance(e, Cancelled):
        return Finished(task, None, "stopped", "out of time or cancelled", seconds)
    if isinstance(e, MemoryError):
        return Finished(task, None, "failed", OUT_OF_MEMORY, seconds)
    if isinstance(e, StudioError):
        return Finished(task, None, "failed", first_line(e), seconds)
    if not isinstance(e, Exception):
        raise e
    return Finished(task, None, "failed", f"{type(e).__name__}: {first_line(e)}", seconds)
