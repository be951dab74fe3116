"""Runs any core job (a generator yielding Progress, see studio.core.process.jobs) on a worker thread.

The runner only forwards what the job does: each yielded Progress, the returned result, the raised
exception, or the cancellation. One run at a time: starting a new run cancels the old one, whose late
signals are ignored; its thread stops at the job's next cancel check.

The session's compression jobs and the export compute in forked child processes (session.with_data,
studio.core.process.isolated): on the runner's thread they only wait for the child's messages. Opening and
analysing a model run on the thread itself.

A process with a runner hands Python's lock between threads every 0.1 ms instead of every 5 ms.
With the default, a worker that drops and retakes the lock often (file stats while importing, short
tensor ops) keeps it from the waiting GUI thread for hundreds of milliseconds: CPython's waiter only
asks for the lock after a whole interval passes with no switch. And every Qt call from Python lets go
of the lock, so a chart that makes a few hundred calls to paint waits that long again and again while
a job runs Python code. A shorter interval costs the job no time (benchmarks/RESULTS.md: The window
while compression runs).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio.core.process.jobs import Cancelled, CancelToken, run_to_end

SWITCH_INTERVAL = 0.0001  # seconds


class _Task(QObject):
    """Lives in the worker thread; every signal carries its run number."""

    progress = Signal(int, object)
    returned = Signal(int, object)
    errored = Signal(int, object)

    def __init__(self, run: int, job: Callable, args: tuple, kwargs: dict, token: CancelToken):
        super().__init__()
        self._run, self._job, self._args, self._kwargs, self._token = run, job, args, kwargs, token

    def _progressed(self, event) -> None:
        self.progress.emit(self._run, event)
        self._token.check()

    @Slot()
    def run(self) -> None:
        generator = None
        try:
            generator = self._job(*self._args, cancel=self._token, **self._kwargs)
            self.returned.emit(self._run, run_to_end(generator, self._progressed))
        except Cancelled:
            pass  # the runner told the window when it cancelled
        except Exception as e:  # handed to the GUI thread, which tells the user
            self.errored.emit(self._run, e)
        finally:
            if generator is not None:
                generator.close()  # a cancelled job's cleanup runs now (a forked job's child is killed)
            self.thread().quit()


class JobRunner(QObject):
    """Runs `job(*args, cancel=token, **kwargs)` off the GUI thread and forwards its events."""

    progress = Signal(object)  # Progress
    finished = Signal(object)  # the job's return value
    failed = Signal(object)  # the exception it raised
    cancelled = Signal()
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._numbers = itertools.count(1)
        self._current: tuple[int, CancelToken] | None = None
        self._runs: dict[int, tuple[QThread, _Task]] = {}  # kept alive until their threads stop

    @property
    def running(self) -> bool:
        return self._current is not None

    def start(self, job: Callable, *args, **kwargs) -> None:
        self.cancel()
        self._reap()
        run, token = next(self._numbers), CancelToken()
        task, thread = _Task(run, job, args, kwargs, token), QThread()
        task.moveToThread(thread)
        thread.started.connect(task.run)
        task.progress.connect(self._progress)
        task.returned.connect(self._returned)
        task.errored.connect(self._errored)
        self._runs[run] = (thread, task)
        self._current = (run, token)
        thread.start()
        self.runningChanged.emit(True)

    def cancel(self) -> None:
        """Ask the current run to stop and stop forwarding it; emits `cancelled` at once."""
        if self._current is not None:
            self._current[1].cancel()
            self._current = None
            self.runningChanged.emit(False)
            self.cancelled.emit()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel, then wait for every thread still running (before the window closes)."""
        self.cancel()
        for thread, _ in self._runs.values():
            thread.wait(timeout_ms)
        self._reap()

    def _reap(self) -> None:
        for run, (thread, _) in list(self._runs.items()):
            if thread.isFinished():
                del self._runs[run]

    def _is_current(self, run: int) -> bool:
        return self._current is not None and self._current[0] == run

    @Slot(int, object)
    def _progress(self, run: int, event) -> None:
        if self._is_current(run):
            self.progress.emit(event)

    @Slot(int, object)
    def _returned(self, run: int, result) -> None:
        self._end(run, self.finished, result)

    @Slot(int, object)
    def _errored(self, run: int, error) -> None:
        self._end(run, self.failed, error)

    def _end(self, run: int, signal, value) -> None:
        if self._is_current(run):
            self._current = None
            self.runningChanged.emit(False)
            signal.emit(value)
