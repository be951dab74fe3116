"""Long operations are generators: they yield Progress events and return their result.

A job checks its CancelToken between steps and raises Cancelled; it never changes the model it started
from, so cancelling at any point leaves the current version as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Progress:
    step: int
    total: int
    message: str
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. accuracy, loss, sparsity, size_bytes

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


class Cancelled(Exception):
    """The user cancelled the job; nothing it would have produced exists."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


Job = Generator[Progress, None, T]


def run_to_end(job: Job[T], on_progress=None) -> T:
    """Drive a job synchronously (CLI, tests); returns its result."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)


def offset(job: Job, start: float, total: float, prefix: str = "", span: float = 1.0, metrics: bool = True) -> Job:
    """Forward a sub-job's progress as the part of a larger job that begins at `start` of `total` and
    takes `span` of it; metrics=False keeps its measurements off the larger job's live charts (a step
    whose result is not the job's)."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        yield Progress(start + span * event.fraction, total, prefix + event.message, event.metrics if metrics else {})


NO_CANCEL = CancelToken()
