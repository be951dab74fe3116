import json

import numpy as np
import pytest
import torch

from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import CancelToken, run_to_end
from studio.core.project.project_file import Project, open_project, save_project
from studio.core.project.recipe import StepResult, run_step, step_metrics
from studio.core.project.steps import OPS, Context
from studio.core.project.versions import History


@pytest.fixture(scope="module")
def project():
    model = load_model("sample:digits-cnn")
    data = load_data("sample:digits")
    ctx = Context(data, "cpu", CancelToken(), model)
    history = History()
    metrics, logits = step_metrics(model, data, None, "cpu")
    v = history.add(StepResult("load", {}, "original", model, metrics, logits), None, "v0 original")
    for op, options in [("prune", {"sparsity": 0.7}), ("prune", {"method": "channels", "ratio": 0.5}),
                        ("distill", {"student": {"sample": "digits-cnn"}, "epochs": 1})]:
        v = history.add(run_to_end(run_step(v.result, op, OPS[op].validate(op, options), ctx)), v.id)
    onnx_model = to_onnx(v.model)
    history.add(StepResult("export", {}, "as ONNX", onnx_model, {"parameters": 1}, None), v.id)
    return Project(history, "sample:digits", "cpu", current=v.id, charts={"v1": {"accuracy": [0.5, 0.9]}},
                   profiles={"v1": {"latency_ms": 0.4, "nodes": [["conv1", "FusedConv", 0.2, 0.5, "CPU"]]}})


def _same(a, b):
    if a.onnx is not None:
        return full_onnx(a).SerializeToString() == full_onnx(b).SerializeToString()
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_projects_round_trip_exactly(tmp_path, project):
    save_project(tmp_path / "p", project)
    again = open_project(tmp_path / "p")
    assert again.data == "sample:digits" and again.current == project.current and again.charts == project.charts
    assert again.profiles == project.profiles
    assert again.history.versions.keys() == project.history.versions.keys()
    for vid, v in project.history.versions.items():
        w = again.history.versions[vid]
        assert (w.label, w.parent, w.result.op, w.result.options, w.metrics) == (v.label, v.parent, v.result.op, v.result.options, v.metrics)
        assert _same(v.model, w.model), vid
        assert (v.result.logits is None) == (w.result.logits is None)
    narrow = again.history.versions[2].model.module
    assert narrow.conv1.out_channels < 16  # rebuilt at its pruned size
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(narrow(x), project.history.versions[2].model.module(x))


def test_no_pickles_are_written(tmp_path, project):
    save_project(tmp_path / "p", project)
    suffixes = {p.suffix for p in (tmp_path / "p").iterdir()}
    assert suffixes <= {".json", ".safetensors", ".onnx", ".npz"}


def test_saving_again_only_adds_what_is_new(tmp_path, project):
    save_project(tmp_path / "p", project)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "p").iterdir() if p.suffix != ".json"}
    save_project(tmp_path / "p", project)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "p").iterdir() if p.suffix != ".json"}
    assert before == after


def test_broken_projects_are_one_line(tmp_path, project):
    with pytest.raises(StudioError, match="not a studio project"):
        open_project(tmp_path)
    save_project(tmp_path / "p", project)
    (tmp_path / "p" / "v1.safetensors").unlink()
    with pytest.raises(StudioError, match="missing"):
        open_project(tmp_path / "p")
    doc = json.loads((tmp_path / "p" / "project.json").read_text())
    doc["versions"][1]["weights"] = "../../etc/passwd"
    (tmp_path / "p" / "project.json").write_text(json.dumps(doc))
    with pytest.raises(StudioError, match="outside"):
        open_project(tmp_path / "p")
    (tmp_path / "p" / "project.json").write_text("{broken")
    with pytest.raises(StudioError, match="damaged"):
        open_project(tmp_path / "p")
    with np.load(tmp_path / "p" / "v0.outputs.npz") as outputs:  # every output kept, the class output first
        assert outputs["arr_0"].shape == (359, 10)


def test_a_reopened_project_never_reuses_a_deleted_versions_id(tmp_path, project):
    save_project(tmp_path / "p", project)
    again = open_project(tmp_path / "p")
    last = max(again.history.versions)
    del again.history.versions[last]
    assert again.history.add(again.history.versions[0].result, 0).id == last + 1


def test_an_onnx_versions_weights_kept_apart_are_saved_apart_not_put_into_its_proto(tmp_path):
    """Putting a large model's weights into the proto and serialising it held Python's lock for the whole
    model on the window's autosave thread."""
    from onnx_cases import two_layer_onnx

    model = load_model(str(two_layer_onnx(tmp_path / "mlp.onnx", external=True)))
    assert model.external  # its 1.5 MB weight kept apart, as a large model's are
    history = History()
    history.add(StepResult("load", {}, "original", model, {}), None, "v0 original")
    save_project(tmp_path / "p", Project(history, None))
    assert model.external and (tmp_path / "p" / "v0.onnx.data").stat().st_size == 384 * 1024 * 4
    again = open_project(tmp_path / "p").history.versions[0].model
    assert full_onnx(again).SerializeToString() == full_onnx(model).SerializeToString()
