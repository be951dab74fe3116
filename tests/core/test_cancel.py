"""Cancelling any compression job at any point: the job stops (or had just finished), and the
version it started from is exactly as it was."""

import pytest
import torch

from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.process.jobs import Cancelled, CancelToken
from studio.core.project.recipe import StepResult, run_step
from studio.core.project.steps import OPS, Context

STEPS = [
    ("prune", {"sparsity": 0.6, "schedule": "gradual", "epochs": 1}),
    ("prune", {"method": "channels", "ratio": 0.5}),
    ("finetune", {"epochs": 1}),
    ("quantize", {"mode": "static", "samples": 64}),
    ("distill", {"student": {"width": 0.5}, "epochs": 1}),
]
POINTS = 6  # cancel after the first event, the last, and evenly between


@pytest.fixture(scope="module")
def digits():
    return load_data("sample:digits")


def _events(op, options, model, data, token):
    return run_step(StepResult("load", {}, "original", model, {}), op, OPS[op].validate(op, options), Context(data, "cpu", token, model))


@pytest.mark.parametrize("op, options", STEPS, ids=[f"{op}-{i}" for i, (op, _) in enumerate(STEPS)])
def test_cancelling_at_any_point_leaves_the_version_intact(digits, op, options):
    model = load_model("sample:digits-cnn")
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    count = sum(1 for _ in _events(op, options, model, digits, CancelToken()))
    points = sorted({0, count - 1, *range(0, count, max(1, count // POINTS))})
    for point in points:
        token = CancelToken()
        job = _events(op, options, model, digits, token)
        with pytest.raises(Cancelled):
            for i, _ in enumerate(job):
                if i == point:
                    token.cancel()
                token.check()  # as the window's runner does after every event; the job checks more often
        after = model.module.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), f"cancel after event {point} of {count} changed the weights"


def test_cancelling_an_export_before_it_writes_leaves_the_old_file(tmp_path, digits):
    from studio.core.deliver.deploy import export_version

    model = load_model("sample:digits-cnn")
    path = tmp_path / "model.onnx"
    path.write_bytes(b"the old file")
    count = sum(1 for _ in export_version(model, tmp_path / "probe.onnx", digits))
    for point in range(count - 1):  # the last event reports the files written
        token = CancelToken()
        with pytest.raises(Cancelled):
            for i, _ in enumerate(export_version(model, path, digits, cancel=token)):
                if i == point:
                    token.cancel()
                token.check()
        assert path.read_bytes() == b"the old file" and sorted(p.name for p in tmp_path.iterdir() if "model" in p.name) == ["model.onnx"]
