"""auto_runner: the runners of the automatic search's candidates (in this process, in forked children) on
toy tasks: every task finished, a failure kept to its task, nothing started once out of time."""

import pytest

from studio.core.errors import OUT_OF_MEMORY, StudioError
from studio.core.process.jobs import Cancelled, CancelToken, Progress
from studio.core.project.auto_runner import Built, Finished, ForkPool, InProcess, Task, finished_with


def _toy_build(task, *, cancel):
    yield Progress(0, 1, f"building {task.name}")
    if task.name == "broken":
        raise StudioError("no good")
    cancel.check()
    return Built(None, None, None, {"value": task.body[0][1]["n"]})


@pytest.mark.parametrize("runner", [InProcess(), ForkPool(2)], ids=["in-process", "fork-pool"])
def test_runners_run_every_task_and_survive_a_failure(runner):
    tasks = [Task(None, name, None, [("x", {"n": i})], []) for i, name in enumerate(["a", "broken", "c"])]
    events = list(runner.run(tasks, _toy_build, CancelToken(), lambda t: True))
    done = {e.task.name: e for e in events if isinstance(e, Finished)}
    assert set(done) == {"a", "broken", "c"}
    assert done["a"].built.metrics == {"value": 0} and done["c"].built.metrics == {"value": 2}
    assert done["broken"].status == "failed" and done["broken"].reason == "no good"
    assert any(isinstance(e, Progress) for e in events)


def test_a_runner_starts_nothing_once_out_of_time():
    tasks = [Task(None, name, None, [("x", {"n": 0})], []) for name in "abc"]
    events = list(InProcess().run(tasks, _toy_build, CancelToken(), lambda t: t.name == "a"))
    assert [e.task.name for e in events if isinstance(e, Finished)] == ["a"]


def test_a_cancelled_search_starts_nothing_and_each_failure_is_told_in_one_line():
    cancel = CancelToken()
    cancel.cancel()
    assert list(InProcess().run([Task(None, "a", None, [("x", {"n": 0})], [])], _toy_build, cancel, lambda t: True)) == []
    task = Task(None, "t", None, [], [])
    assert (finished_with(task, Cancelled(), 1.0).status, finished_with(task, Cancelled(), 1.0).reason) == (
        "stopped", "out of time or cancelled")
    assert finished_with(task, MemoryError(), 1.0).reason == OUT_OF_MEMORY
    assert finished_with(task, ValueError("bad shape\nmore detail"), 2.5) == Finished(task, None, "failed", "ValueError: bad shape", 2.5)
    with pytest.raises(KeyboardInterrupt):  # not the candidate's failure: it ends the search
        finished_with(task, KeyboardInterrupt(), 1.0)
