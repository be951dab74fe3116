"""The CUDA paths, run where PyTorch sees a GPU (skipped elsewhere, so CI on CPU skips them).

Every operation of a recipe runs with device cuda; the versions it returns live on the CPU like any
other (the window, projects and exports read them there)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from studio.core.process.jobs import run_to_end
from studio.core.project.recipe import parse_recipe, run_recipe

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

STEPS = [
    {"prune": {"sparsity": 0.8}},
    {"finetune": {"epochs": 1}},
    {"prune": {"method": "channels", "ratio": 0.5}},
    {"finetune": {"epochs": 1}},
    {"distill": {"student": {"width": 0.5}, "epochs": 2}},
    {"quantize": {"mode": "static"}},
]


def on_cpu(result) -> bool:
    module = result.model.module
    return module is None or all(t.device.type == "cpu" for t in [*module.parameters(), *module.buffers()])


def test_every_step_runs_on_cuda_and_returns_cpu_versions(tmp_path):
    recipe = parse_recipe({"model": "sample:digits-cnn", "data": "sample:digits", "device": "cuda", "steps": STEPS,
                           "export": {"path": str(tmp_path / "m.onnx")}})
    result = run_to_end(run_recipe(recipe))
    pruned, tuned, thin, tuned2, student, int8 = result.steps
    assert pruned.metrics["weight_sparsity"] == pytest.approx(0.8, abs=1e-6)
    for step in (pruned, tuned, thin, tuned2, student):
        assert step.metrics["runtime"] == "torch cuda" and on_cpu(step), step.op
    assert tuned.metrics["weight_sparsity"] == pytest.approx(0.8, abs=1e-6)  # masks kept on the GPU too
    assert tuned.metrics["accuracy"] > 0.8 and student.metrics["accuracy"] > 0.8
    assert int8.metrics["runtime"].startswith("onnxruntime")
    assert result.export["metrics"]["parity"]["max_abs_diff"] < 1e-3 and (tmp_path / "m.onnx").exists()


def test_cuda_training_matches_cpu_training():
    """Same seed, same data: the GPU's fine-tuning lands near the CPU's (float order differs, not the maths)."""
    accuracy = {}
    for device in ("cpu", "cuda"):
        recipe = parse_recipe({"model": "sample:digits-cnn", "data": "sample:digits", "device": device,
                               "steps": [{"finetune": {"epochs": 2}}]})
        accuracy[device] = run_to_end(run_recipe(recipe)).steps[0].metrics["accuracy"]
    assert abs(accuracy["cpu"] - accuracy["cuda"]) < 0.03, accuracy


def test_torchrun_with_nccl_on_one_gpu(tmp_path):
    (tmp_path / "r.yaml").write_text(
        "model: sample:digits-cnn\ndata: sample:digits\nsteps:\n  - finetune: {epochs: 1}\n"
        "export: {path: out/m.onnx}\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "studio",
                        "run", "r.yaml", "--device", "cuda", "--json"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["steps"][0]["metrics"]["runtime"] == "torch cuda"
    assert (tmp_path / "out/m.onnx").exists()


def test_onnx_runtime_uses_its_cuda_provider_when_installed():
    import onnxruntime as ort

    from studio.core.evaluate.runtime import ort_providers

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime has no CUDA provider (install onnxruntime-gpu)")
    assert ort_providers("cuda")[0] == "CUDAExecutionProvider"
    recipe = parse_recipe({"model": "sample:digits-cnn", "data": "sample:digits", "device": "cuda",
                           "steps": [{"quantize": {"mode": "dynamic"}}]})
    step = run_to_end(run_recipe(recipe)).steps[0]
    assert step.metrics["runtime"] == "onnxruntime CUDAExecutionProvider"
    assert np.isfinite(step.metrics["accuracy"])


FORKED_ON_CUDA = """
from studio.core.process.isolated import isolated, prepare_to_fork
prepare_to_fork()  # as the studio's window does
import torch
from studio.core.process import threads
from studio.core.evaluate.data import load_data
from studio.core.process.jobs import CancelToken, run_to_end
from studio.core.formats.load import load_model
from studio.core.project.recipe import StepResult, run_step
from studio.core.project.steps import OPS, Context

threads.leave_a_core()
assert torch.cuda.is_available()  # asked through NVML: nothing initialised here
model, data = load_model("sample:digits-cnn"), load_data("sample:digits")

def finetune(cancel):
    start = StepResult("load", {}, "original", model, {})
    options = OPS["finetune"].validate("finetune", {"epochs": 1})
    result = yield from run_step(start, "finetune", options, Context(data, "cuda", cancel, model))
    return result, torch.get_num_threads()

for _ in range(2):  # the second child too: the first left nothing behind in this process
    result, threads = run_to_end(isolated(finetune)(cancel=CancelToken()))
    assert result.metrics["runtime"] == "torch cuda" and result.metrics["accuracy"] > 0.8, result.metrics
    assert threads == threads._thread_budget
assert not torch.cuda.is_initialized()
print("ok", threads)
"""


def test_a_job_forked_by_the_window_runs_on_cuda():
    """The window's jobs run in forked children (studio.core.process.isolated); CUDA must start in each child,
    never in the window's process, or no child could use it. A fresh process, as CUDA may be in use here."""
    r = subprocess.run([sys.executable, "-c", FORKED_ON_CUDA], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-2000:]
