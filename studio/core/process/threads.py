"""How many threads jobs use, so that a window running them keeps a core for itself.

PyTorch is imported inside the functions: this module is imported by the fork runner, and a process
that forks jobs must set up its threads (isolated.prepare_to_fork) before PyTorch loads."""

from __future__ import annotations

import os

_thread_budget: int | None = None  # set by the window so a running job leaves the GUI a core


def limit_threads(n: int) -> None:
    """Cap the threads PyTorch and new ONNX Runtime sessions use for jobs in this process."""
    import torch

    global _thread_budget
    _thread_budget = max(1, n)
    torch.set_num_threads(_thread_budget)


def leave_a_core() -> None:
    """For a window's process: its jobs use all cores but one, and the window keeps one to stay
    responsive. PyTorch in this process itself stays on one thread: the jobs run in forked children
    (studio.core.process.isolated), and a child can start OpenMP's thread pool only if its parent never did
    (see isolated.prepare_to_fork)."""
    import torch

    global _thread_budget
    _thread_budget = max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(1)


def take_job_threads() -> None:
    """In a forked job: take the threads the window left for jobs (see leave_a_core)."""
    if _thread_budget:
        limit_threads(_thread_budget)


def thread_budget() -> int | None:
    """The threads set aside for jobs, if a window or a forked job set them."""
    return _thread_budget


def job_threads() -> int:
    """How many threads a job's own parallel work may use (see leave_a_core)."""
    import torch

    return _thread_budget or torch.get_num_threads()
