"""Data-parallel training: a no-op in one process, DDP inside a process group, each rank its share."""

import os

import pytest
import torch
import torch.distributed as dist

from studio.core.compress.distill import distill, make_student
from studio.core.evaluate.data import load_data
from studio.core.evaluate.metrics import evaluate
from studio.core.formats.load import load_model
from studio.core.process import distributed
from studio.core.process.jobs import run_to_end


@pytest.fixture(scope="module")
def teacher():
    return load_model("sample:digits-cnn")


@pytest.fixture(scope="module")
def digits():
    return load_data("sample:digits")


@pytest.fixture
def group_of_one(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_training_runs_under_a_one_process_ddp_group(tmp_path, teacher, digits, monkeypatch):
    from torch.nn.parallel import DistributedDataParallel

    from studio.core.process import distributed

    wrapped = []
    real_wrap = distributed.wrap
    monkeypatch.setattr(distributed, "wrap", lambda m, d: wrapped.append(real_wrap(m, d)) or wrapped[-1])
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        student = make_student(teacher, {"width": 0.5})
        trained = run_to_end(distill(teacher, student, digits, epochs=1))
        assert isinstance(wrapped[0], DistributedDataParallel)
        assert not isinstance(trained.module, DistributedDataParallel)  # the version holds the plain module
        assert evaluate(trained, digits.test())["accuracy"] > 0.5
    finally:
        dist.destroy_process_group()
    assert os.environ.get("WORLD_SIZE") in (None, "1")


def test_a_single_process_trains_alone(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.init_from_environment("cuda") == "cuda" and not dist.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun with one process
    assert distributed.init_from_environment("cpu") == "cpu" and not dist.is_initialized()
    assert distributed.rank_and_world() == (0, 1) and distributed.is_main_process()
    module = torch.nn.Linear(2, 2)
    assert distributed.wrap(module, "cpu") is module
    order = torch.randperm(10)
    assert distributed.shard(order) is order


def test_inside_a_group_the_module_is_wrapped_and_joining_again_is_a_no_op(group_of_one, monkeypatch):
    from torch.nn.parallel import DistributedDataParallel

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.init_from_environment("cpu") == "cpu"  # already in a group: not joined twice
    assert distributed.rank_and_world() == (0, 1) and distributed.is_main_process()
    module = torch.nn.Linear(2, 2)
    wrapped = distributed.wrap(module, "cpu")
    assert isinstance(wrapped, DistributedDataParallel) and wrapped.module is module
    assert torch.equal(distributed.shard(torch.arange(7)), torch.arange(7))


def test_ranks_get_equal_disjoint_shares_of_an_epoch(monkeypatch):
    order = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    shares = []
    for rank in range(3):
        monkeypatch.setattr(distributed, "rank_and_world", lambda rank=rank: (rank, 3))
        shares.append(distributed.shard(order))
    assert [len(s) for s in shares] == [3, 3, 3]  # 11 examples: the last 2 wait for the next epoch
    assert sorted(torch.cat(shares).tolist()) == sorted(order[:9].tolist())
    monkeypatch.setattr(distributed, "rank_and_world", lambda: (1, 3))
    assert distributed.is_main_process() is False
