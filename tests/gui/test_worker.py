"""The generic worker: forwards progress, result, error and cancellation of any core job."""

import threading

import pytest

from studio.core.process.jobs import Progress
from studio.gui.run.worker import JobRunner


def counting(n, cancel, started=None, release=None, steps=None):
    if started is not None:
        started.set()
        release.wait(10)
    for i in range(n):
        if steps is not None:
            steps.append(i)
        yield Progress(i + 1, n, f"step {i + 1}")
    return threading.current_thread().name, n


def failing(cancel):
    yield Progress(1, 2, "about to fail")
    raise ValueError("the job's own message")


@pytest.fixture
def runner(qtbot):
    runner = JobRunner()
    yield runner
    runner.shutdown()


def test_forwards_progress_then_the_result_from_another_thread(qtbot, runner):
    seen = []
    runner.progress.connect(lambda p: seen.append(p.message))
    with qtbot.waitSignal(runner.finished, timeout=5000) as done:
        runner.start(counting, 3)
    thread_name, n = done.args[0]
    assert n == 3 and thread_name != threading.current_thread().name
    assert seen == ["step 1", "step 2", "step 3"]
    assert not runner.running


def test_forwards_the_exception(qtbot, runner):
    with qtbot.waitSignal(runner.failed, timeout=5000) as failed:
        runner.start(failing)
    assert isinstance(failed.args[0], ValueError) and str(failed.args[0]) == "the job's own message"


def test_a_new_run_cancels_the_old_one(qtbot, runner):
    started, release = threading.Event(), threading.Event()
    results, cancels = [], []
    runner.finished.connect(results.append)
    runner.cancelled.connect(lambda: cancels.append(True))
    runner.start(counting, 1000, started=started, release=release)
    assert started.wait(5)
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start(counting, 2)
        release.set()  # the old run goes on, sees its token and stops
    qtbot.wait(100)
    assert [r[1] for r in results] == [2] and cancels == [True]


def test_cancel_stops_the_job_at_its_next_check(qtbot, runner):
    started, release = threading.Event(), threading.Event()
    results, forwarded, ran = [], [], []
    runner.finished.connect(results.append)
    runner.progress.connect(forwarded.append)
    with qtbot.waitSignal(runner.cancelled, timeout=1000):
        runner.start(counting, 1000, started=started, release=release, steps=ran)
        assert started.wait(5)
        runner.cancel()
    release.set()
    runner.shutdown()
    qtbot.wait(50)
    assert results == [] and forwarded == [] and not runner.running
    assert ran == [0]  # the job stopped at the check after its first step


def test_the_gui_thread_gets_pythons_lock_back_quickly_while_a_job_computes(runner):
    """Each Qt call may hand Python's lock to a busy worker; with a runner in the process the GUI thread
    waits about 0.1 ms to take it back, not CPython's default 5 ms (200 handoffs: well under 0.1 s, not ~1 s)."""
    import time

    stop = threading.Event()

    def busy():
        while not stop.is_set():
            sum(range(1000))

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        start = time.perf_counter()
        for _ in range(200):
            time.sleep(0)  # lets go of the lock and asks for it again, as a Qt call does
        took = time.perf_counter() - start
    finally:
        stop.set()
        thread.join()
    assert took < 0.5, f"200 handoffs took {took:.2f} s"
