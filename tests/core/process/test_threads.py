"""How many threads jobs use: a window keeps a core, its forked jobs take the rest."""

import os

import pytest
import torch

from studio.core.evaluate import runtime
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx
from studio.core.process import isolated as iso
from studio.core.process import threads
from studio.core.process.jobs import CancelToken, run_to_end


@pytest.fixture
def restored():
    """Whatever a test sets, the next one starts with this process's threads and no budget."""
    before = torch.get_num_threads(), threads._thread_budget
    threads._thread_budget = None
    yield
    torch.set_num_threads(before[0])
    threads._thread_budget = before[1]


def test_thread_budget_caps_torch_and_new_onnx_sessions():
    before = torch.get_num_threads()
    try:
        threads.limit_threads(1)
        assert torch.get_num_threads() == 1
        session = runtime.ort_session(to_onnx(load_model("sample:digits-cnn")))
        assert session.get_session_options().intra_op_num_threads == 1
    finally:
        threads._thread_budget = None
        torch.set_num_threads(before)


def _threads(cancel):
    yield from ()
    a = torch.randn(1000, 1000)
    (a @ a).sum()  # OpenMP's threads start here: a child of a parent that ever started them would hang
    return torch.get_num_threads()


@pytest.mark.skipif(not iso.FORKS, reason="jobs fork only on Linux")
def test_the_child_takes_the_job_threads_and_this_process_keeps_one():
    before = torch.get_num_threads(), threads._thread_budget
    try:
        threads.leave_a_core()
        assert torch.get_num_threads() == 1
        (torch.randn(500, 500) @ torch.randn(500, 500)).sum()  # this process computes meanwhile, on its one thread
        assert run_to_end(iso.isolated(_threads)(cancel=CancelToken())) == max(1, (os.cpu_count() or 2) - 1)
    finally:
        torch.set_num_threads(before[0])
        threads._thread_budget = before[1]


def test_without_a_budget_jobs_use_what_pytorch_has(restored):
    torch.set_num_threads(2)
    assert threads.thread_budget() is None and threads.job_threads() == 2
    threads.take_job_threads()  # nothing set aside: nothing changes
    assert torch.get_num_threads() == 2


def test_a_limit_is_at_least_one_thread_and_sets_the_budget(restored):
    threads.limit_threads(0)
    assert threads.thread_budget() == threads.job_threads() == torch.get_num_threads() == 1
    threads.limit_threads(3)
    assert threads.thread_budget() == threads.job_threads() == torch.get_num_threads() == 3


def test_a_window_leaves_itself_a_core_and_its_jobs_take_the_rest(restored, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    threads.leave_a_core()
    assert torch.get_num_threads() == 1 and threads.thread_budget() == threads.job_threads() == 7
    threads.take_job_threads()  # as a forked job does
    assert torch.get_num_threads() == 7


@pytest.mark.parametrize("cores", [1, None])
def test_a_machine_with_one_core_or_an_unknown_count_still_gives_jobs_one(restored, monkeypatch, cores):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    threads.leave_a_core()
    assert threads.thread_budget() == 1
