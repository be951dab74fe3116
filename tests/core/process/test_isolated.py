"""Jobs run in a forked child: the same events and result as in this process, errors and cancels
relayed, a child killed by the system reported, and models of every format carried back."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from studio.core.errors import StudioError
from studio.core.evaluate import runtime
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.process import isolated as iso
from studio.core.process.jobs import Cancelled, CancelToken, Progress, run_to_end
from studio.core.process.locks import MODULE_LOCK
from studio.core.project.recipe import StepResult, run_step
from studio.core.project.steps import OPS, Context

pytestmark = pytest.mark.skipif(not iso.FORKS, reason="jobs fork only on Linux")


def _counting(n, cancel):
    for i in range(n):
        yield Progress(i, n, f"step {i}", {"pid": os.getpid()})
    return {"sum": sum(range(n)), "pid": os.getpid()}


def test_events_and_result_come_from_a_child():
    events = []
    result = run_to_end(iso.isolated(_counting)(3, cancel=CancelToken()), events.append)
    assert [e.message for e in events] == ["step 0", "step 1", "step 2"]
    assert result["sum"] == 3 and result["pid"] != os.getpid() and events[0].metrics["pid"] == result["pid"]


def _failing(cancel):
    yield Progress(0, 1, "about to fail")
    raise StudioError("the data has no labels", "data.csv")


def _unpicklable(cancel):
    yield Progress(0, 1, "about to fail")
    error = RuntimeError("held a lock")
    error.lock = threading.Lock()
    raise error


def test_errors_keep_their_type_and_words():
    with pytest.raises(StudioError) as caught:
        run_to_end(iso.isolated(_failing)(cancel=CancelToken()))
    assert (caught.value.problem, caught.value.source) == ("the data has no labels", "data.csv")
    with pytest.raises(RuntimeError, match="RuntimeError: held a lock"):
        run_to_end(iso.isolated(_unpicklable)(cancel=CancelToken()))


def _forever(path, cancel):
    yield Progress(0, 1, "started")
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cancelling_ends_the_child_at_once(tmp_path):
    token, path = CancelToken(), tmp_path / "pid"
    job = iso.isolated(_forever)(path, cancel=token)
    next(job)
    while not path.exists() or not path.read_text():
        time.sleep(0.01)
    threading.Timer(0.1, token.cancel).start()
    clock = time.perf_counter()
    with pytest.raises(Cancelled):
        next(job)
    assert time.perf_counter() - clock < 1.0
    assert not _alive(int(path.read_text()))


def _cleaning_up(path, cancel):
    path.write_text("half-written")
    try:
        yield Progress(0, 1, "writing")
        while True:
            time.sleep(0.01)
    finally:
        path.unlink()


def test_a_cancelled_child_cleans_up_before_it_ends(tmp_path):
    token, path = CancelToken(), tmp_path / "export.part"
    job = iso.isolated(_cleaning_up)(path, cancel=token)
    next(job)
    assert path.exists()
    token.cancel()
    with pytest.raises(Cancelled):
        next(job)
    assert not path.exists()


def _deaf(path, cancel):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as if stuck in native code
    yield from _forever(path, cancel)


@pytest.mark.parametrize("job", [_forever, _deaf])
def test_a_job_dropped_midway_ends_its_child(job, tmp_path, monkeypatch):
    """Stopped by SIGTERM, or killed GRACE_S later if it does not stop."""
    monkeypatch.setattr(iso, "GRACE_S", 0.2)
    path = tmp_path / "pid"
    job = iso.isolated(job)(path, cancel=CancelToken())
    next(job)
    while not path.exists() or not path.read_text():
        time.sleep(0.01)
    job.close()
    assert not _alive(int(path.read_text()))


def _killed(cancel):
    yield Progress(0, 1, "using all the memory")
    os.kill(os.getpid(), signal.SIGKILL)  # what the system's out-of-memory killer does


def test_a_child_killed_by_the_system_is_an_out_of_memory_error():
    with pytest.raises(MemoryError, match="killed, most likely by the system because it ran out of memory"):
        run_to_end(iso.isolated(_killed)(cancel=CancelToken()))


def test_forking_waits_for_fx_tracing_in_another_thread():
    """Tracing patches torch.nn.Module.__call__ process-wide: a child forked meanwhile would inherit the patch."""
    held, release = threading.Event(), threading.Event()

    def trace():
        with MODULE_LOCK:
            held.set()
            release.wait(5)

    threading.Thread(target=trace).start()
    held.wait(5)
    job = iso.isolated(_counting)(1, cancel=CancelToken())
    started = []
    threading.Thread(target=lambda: started.append(next(job))).start()
    time.sleep(0.3)
    assert not started  # the fork waits for the lock
    release.set()
    deadline = time.time() + 10
    while not started and time.time() < deadline:
        time.sleep(0.01)
    assert started and started[0].message == "step 0"
    job.close()


@pytest.fixture(scope="module")
def digits():
    return load_data("sample:digits").subset(slice(0, 300))


def _step(op, options, model, data, cancel):
    start = StepResult("load", {}, "original", model, {})
    return (yield from run_step(start, op, OPS[op].validate(op, options), Context(data, "cpu", cancel, model)))


@pytest.fixture(scope="module")
def any_batch_pt2(tmp_path_factory):
    from studio.core.formats.samples import build_sample, sample_input

    path = tmp_path_factory.mktemp("pt2") / "any-batch.pt2"
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.export.save(torch.export.export(build_sample("lenet-5"), (sample_input("lenet-5", 2),), dynamic_shapes=({0: batch},)), path)
    return path


@pytest.mark.parametrize("kind", ["sample", "torchscript", "pt2", "onnx"])
def test_models_of_every_format_come_back_from_a_child(files, any_batch_pt2, digits, kind):
    path = {"sample": "sample:digits-cnn", "pt2": any_batch_pt2}.get(kind) or files[kind]
    model = load_model(str(path))
    data = digits if kind == "sample" else load_data("sample:mnist5k").subset(slice(0, 300))
    op, options = ("prune", {"sparsity": 0.5}) if kind != "onnx" else ("quantize", {"mode": "dynamic"})
    result = run_to_end(iso.isolated(_step)(op, options, model, data, cancel=CancelToken()))
    here = run_to_end(_step(op, options, model, data, CancelToken()))
    assert result.model.format == here.model.format and result.metrics.keys() == here.metrics.keys()
    assert result.metrics["sparsity"] == pytest.approx(here.metrics["sparsity"])
    x = data.subset(slice(0, 8)).shaped_for(here.model.inputs).x
    assert (runtime.predict(result.model, x) == runtime.predict(here.model, x)).all()


def _tensors(cancel):
    yield from ()
    big = torch.arange(3 << 20, dtype=torch.float32)  # 12 MB: read into anonymous memory
    return {"param": torch.nn.Parameter(torch.ones(3, 4)), "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False),
            "strided": torch.arange(12.0).reshape(3, 4).t(), "int8": torch.tensor([-3, 7], dtype=torch.int8),
            "bf16": torch.tensor([1.5, 2.5], dtype=torch.bfloat16), "big": big, "shared": (big, big)}


def test_tensors_come_back_whole_writable_and_of_their_kind():
    got = run_to_end(iso.isolated(_tensors)(cancel=CancelToken()))
    assert type(got["param"]) is torch.nn.Parameter and got["param"].requires_grad and not got["frozen"].requires_grad
    assert torch.equal(got["strided"], torch.arange(12.0).reshape(3, 4).t())
    assert got["int8"].dtype == torch.int8 and got["int8"].tolist() == [-3, 7]
    assert got["bf16"].dtype == torch.bfloat16 and got["bf16"].tolist() == [1.5, 2.5]
    assert torch.equal(got["big"], torch.arange(3 << 20, dtype=torch.float32)) and got["shared"][0] is got["shared"][1] is got["big"]
    got["big"].add_(1)  # memory of its own, writable
    assert got["big"][0] == 1


def test_the_fork_runner_loads_no_pytorch_before_the_process_sets_up_its_threads():
    code = "import sys; import studio.core.process.isolated; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # prepare_to_fork must run before PyTorch starts OpenMP (children hang otherwise)
