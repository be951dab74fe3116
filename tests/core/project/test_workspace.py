import pytest

from studio.core.formats.load import load_model
from studio.core.process.jobs import NO_CANCEL, run_to_end
from studio.core.project import workspace
from studio.core.project.recipe import StepResult
from studio.core.project.steps import OPS
from studio.core.project.workspace import Workspace, needs_output, spec_name, steps_job, with_output


def test_a_workspace_runs_steps_and_keeps_the_versions_they_make():
    model = load_model("sample:digits-cnn")
    ws = Workspace()
    ws.begin(model, "sample:digits")
    assert ws.only_the_original and ws.version.model is model and ws.needs_reference(ws.version)
    metrics, outputs = run_to_end(workspace.measure_job(model, ws.data, ws.device, cancel=NO_CANCEL))
    assert ws.measured(model, metrics, outputs) and not ws.needs_reference(ws.version)
    steps = [("prune", OPS["prune"].validate("prune", {"method": "magnitude", "sparsity": 0.5})),
             ("quantize", OPS["quantize"].validate("quantize", {"mode": "dynamic"}))]
    results, info = run_to_end(steps_job(ws.version.result, steps, ws.data, ws.device, False, cancel=NO_CANCEL))
    added = ws.add(ws.version, results, ws.data, {"accuracy": [[0.0, 0.9]]})
    assert [v.parent for v in added] == [0, added[0].id] and ws.current == added[-1].id
    assert info.model is results[-1].model and ws.charts[f"v{added[0].id}"] == {"accuracy": [[0.0, 0.9]]}
    removed = ws.delete(added[0].id)
    assert ws.current == 0 and list(ws.history.versions) == [0] and f"v{added[0].id}" not in ws.charts  # its child went with it
    with pytest.raises(ValueError):
        ws.delete(0)
    ws.undelete(removed)  # Edit → Undo: back as they were, the same current version
    assert list(ws.history.versions) == [0, *(v.id for v in added)] and ws.current == added[-1].id
    assert ws.history.versions[added[-1].id] is added[-1] and ws.charts[f"v{added[0].id}"] == {"accuracy": [[0.0, 0.9]]}


def test_data_specs_name_the_output_that_holds_the_classes():
    assert with_output("d.npz", "scores") == {"path": "d.npz", "output": "scores"}
    assert with_output({"path": "d.npz", "output": "a"}, None) == "d.npz"
    assert with_output("d.npz", None, labeled=False) == {"path": "d.npz", "labels": "none"}
    assert spec_name({"path": "d.npz"}) == "d.npz" and not needs_output(ValueError("x"))


@pytest.mark.parametrize("onnx, spec, device, forks", [(False, "sample:digits", "cpu", False), (True, None, "cpu", False),
                                                       (True, "sample:digits", "cpu", True), (False, None, "cuda", True)])
def test_measuring_forks_only_where_the_thread_would_hold_pythons_lock(monkeypatch, onnx, spec, device, forks):
    """An ONNX model run on data is serialised for ONNX Runtime (2.6 s holding the lock at 100M
    parameters): measured in a child. Otherwise on the thread, sparing the window the fork."""
    from studio.core.formats.load import load_model
    from studio.core.formats.to_onnx import to_onnx

    model = load_model("sample:lenet-5")
    model = to_onnx(model) if onnx else model
    asked = []
    monkeypatch.setattr(workspace, "with_data", lambda *a, fork, cancel: (asked.append(fork), (yield))[1])
    list(workspace.measure_job(model, spec, device, cancel=None))
    assert asked == [forks]


def test_a_deleted_versions_profile_goes_with_it_and_comes_back_with_it():
    ws = Workspace()
    ws.begin(load_model("sample:digits-cnn"), "sample:digits")
    v0 = ws.version
    child = ws.add(v0, [StepResult("prune", {}, "pruned", v0.model, {})], ws.data, {})[0]
    ws.profiles[f"v{child.id}"] = {"latency_ms": 1.0}
    assert ws.project().profiles == {f"v{child.id}": {"latency_ms": 1.0}}
    removed = ws.delete(child.id)
    assert ws.profiles == {}
    ws.undelete(removed)
    assert ws.profiles == {f"v{child.id}": {"latency_ms": 1.0}}
