"""The window's goal-driven search: `studio auto`'s search (core/project/auto) on the current version and
data, run like any compression job in a child forked from the window's process. No Qt here.

Cancel kills a forked job at once, and what it made with it; a search must rather stop with its best so
far and send it back. SharedStop asks for that: one byte of memory that the window's process and the child
share, which the child's search reads as its cancel token."""

from __future__ import annotations

import mmap
from dataclasses import replace

from studio.core.process.jobs import NO_CANCEL, Cancelled, CancelToken


class SharedStop(CancelToken):
    """Set in the window, seen in the forked child that runs the search (an anonymous shared mapping
    survives fork), or on the same thread where nothing forks."""

    def __init__(self) -> None:
        super().__init__()
        self._flag = mmap.mmap(-1, 1)  # MAP_SHARED: the child sees the parent's write
        self.outer: CancelToken = NO_CANCEL  # the job's own token (a worker thread's, where nothing forks)

    def cancel(self) -> None:
        self._flag[0] = 1

    @property
    def cancelled(self) -> bool:
        return self._flag[0] == 1 or self.outer.cancelled

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled()


def search_job(model, spec, goal, device: str, stop: SharedStop, cancel):
    """The search from `model` (a Model: the current version) on the data of `spec`; returns the AutoResult,
    its best candidate with each step's version (best.made), the others without their models."""
    from studio.core.project.workspace import with_data

    return (yield from with_data(_search, spec, model, spec, goal, device, stop, cancel=cancel))


def _search(data, model, spec, goal, device: str, stop: SharedStop, cancel):
    from studio.core.project.auto import search
    from studio.core.project.auto_result import SearchProgress

    stop.outer = cancel
    job = search(model.source, spec, goal, device=device, cancel=stop, model=model, data=data)
    while True:
        try:
            event = next(job)
        except StopIteration as done:
            return replace(done.value, source=None, data_set=None)  # the window has both
        if isinstance(event, SearchProgress):  # the Run panel's line says how far the search is
            event = replace(event, message=f"{line(event)}: {event.message}")
        yield event


def line(event) -> str:
    """"4:12 left, 5 of 8 candidates done" from a search's progress."""
    return f"{clock(event.total - event.step)} left, {event.done} of {max(event.planned, event.done)} candidates done"


def clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
