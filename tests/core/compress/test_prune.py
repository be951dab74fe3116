import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from studio.core.compress.prune import magnitude, magnitude_masks
from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.evaluate.runtime import predict
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.to_onnx import to_onnx
from studio.core.inspect.prunable import prunable_torch, weight_sparsity
from studio.core.process.jobs import Cancelled, CancelToken, run_to_end


@pytest.fixture(scope="module")
def mlp():
    return load_model("sample:lenet-300-100")


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.95, 0.999])
def test_global_magnitude_reaches_the_exact_sparsity(mlp, sparsity):
    pruned = magnitude(mlp, sparsity)
    weights = prunable_torch(pruned.module)
    total = sum(w.numel() for w in weights.values())
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    assert zeros == round(sparsity * total)
    assert weight_sparsity(mlp) == 0.0  # the original is untouched


def test_global_pruning_removes_the_smallest_weights(mlp):
    pruned = magnitude(mlp, 0.9)
    before = torch.cat([w.detach().abs().flatten() for w in prunable_torch(mlp.module).values()])
    after = torch.cat([w.detach().flatten() for w in prunable_torch(pruned.module).values()])
    kept = before[after != 0]
    assert kept.min() >= before[after == 0].max()


@pytest.mark.parametrize("sparsity, dropped", [(0.3, {0: 30}), (0.6, {0: 40, 1: 20})])
def test_ties_at_the_threshold_still_give_the_exact_count(sparsity, dropped):
    weight = torch.tensor([0.0] * 40 + [1.0] * 40 + [-2.0] * 20)
    keep = magnitude_masks({"w": weight}, sparsity)["w"]
    values, counts = torch.unique(weight[~keep].abs(), return_counts=True)
    assert dict(zip(values.int().tolist(), counts.tolist())) == dropped


def test_layer_scope_and_overrides_and_exclusions(mlp):
    pruned = magnitude(mlp, 0.5, scope="layer", exclude=["fc3"], layers={"fc1": 0.8})
    w = {n: p.detach() for n, p in pruned.module.named_parameters()}
    assert float((w["fc1.weight"] == 0).float().mean()) == pytest.approx(0.8, abs=1e-4)
    assert float((w["fc2.weight"] == 0).float().mean()) == pytest.approx(0.5, abs=1e-4)
    assert int((w["fc3.weight"] == 0).sum()) == 0
    assert int((w["fc1.bias"] == 0).sum()) == 0  # biases are never pruned


def test_exclude_by_type(mlp):
    assert prunable_torch(mlp.module, ["Linear"]) == {}
    with pytest.raises(StudioError, match="nothing to prune"):
        magnitude(mlp, 0.5, exclude=["Linear"])


def test_onnx_weights_are_pruned_in_place(tmp_path, mlp):
    onnx_model = to_onnx(mlp)
    pruned = magnitude(onnx_model, 0.8)
    assert weight_sparsity(pruned) == pytest.approx(0.8, abs=1e-6)
    assert weight_sparsity(onnx_model) == 0.0
    sess = ort.InferenceSession(full_onnx(pruned).SerializeToString())
    assert sess.run(None, {sess.get_inputs()[0].name: np.zeros((3, 784), np.float32)})[0].shape == (3, 10)


def test_onnx_external_data_stays_apart_when_pruned(tmp_path, mlp):
    """A model opened with external data keeps its weights outside the proto: the version's pruned
    weights replace them there, and the opened model's bytes are untouched."""
    import onnx

    onnx.save_model(to_onnx(mlp).onnx, str(tmp_path / "mlp.onnx"), save_as_external_data=True, location="mlp.onnx.data")
    opened = load_model(str(tmp_path / "mlp.onnx"))
    before = dict(opened.external)
    pruned = magnitude(opened, 0.8)
    assert pruned.external.keys() == before.keys() and opened.external == before
    assert weight_sparsity(pruned) == pytest.approx(0.8, abs=1e-6) and weight_sparsity(opened) == 0.0
    x = np.random.default_rng(0).standard_normal((3, 784)).astype(np.float32)
    sess = ort.InferenceSession(full_onnx(pruned).SerializeToString())  # the weights go into the proto only now
    assert not pruned.external and np.abs(sess.run(None, {sess.get_inputs()[0].name: x})[0]).sum() > 0


def test_pruned_zeros_survive_export(mlp):
    exported = to_onnx(magnitude(mlp, 0.9))
    arrays = [numpy_helper.to_array(t) for t in full_onnx(exported).graph.initializer if len(t.dims) == 2]
    zeros = sum(a.size - np.count_nonzero(a) for a in arrays)
    assert zeros == round(0.9 * sum(a.size for a in arrays))


def test_finetune_keeps_pruned_weights_at_zero_and_recovers_accuracy():
    from studio.core.compress.finetune import finetune
    from studio.core.evaluate.metrics import evaluate

    model = load_model("sample:digits-cnn")
    data = load_data("sample:digits")
    pruned = magnitude(model, 0.9)
    tuned = run_to_end(finetune(pruned, data, epochs=2, lr=1e-3))
    for name, p in prunable_torch(pruned.module).items():
        before, after = p.detach() == 0, dict(tuned.module.named_parameters())[name].detach() == 0
        assert bool((after[before]).all())
    assert evaluate(tuned, data.test())["accuracy"] > evaluate(pruned, data.test())["accuracy"]


def test_finetune_without_labels_learns_from_the_unpruned_model():
    from studio.core.compress.finetune import finetune
    from studio.core.evaluate.metrics import evaluate
    from studio.core.evaluate.runtime import predict

    model = load_model("sample:digits-cnn")
    data = load_data({"path": "sample:digits", "labels": "none"})
    test = data.test().shaped_for(model.inputs)
    reference = predict(model, test.x)
    pruned = magnitude(model, 0.9)
    tuned = run_to_end(finetune(pruned, data, epochs=2, teacher=model))
    assert evaluate(tuned, test, reference=reference)["agreement"] > evaluate(pruned, test, reference=reference)["agreement"]


def test_cancel_mid_finetune_leaves_the_model_unchanged():
    from studio.core.compress.finetune import finetune

    model = load_model("sample:digits-cnn")
    pruned = magnitude(model, 0.5)
    before = {k: v.clone() for k, v in pruned.module.state_dict().items()}
    token = CancelToken()
    job = finetune(pruned, load_data("sample:digits"), epochs=3, cancel=token)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(job)
    assert all(torch.equal(before[k], v) for k, v in pruned.module.state_dict().items())


def test_a_torch_export_program_is_pruned_measured_and_analysed(files):
    """A .pt2 traced at batch 2 runs two examples at a time; its zeros are counted in the pruned module
    (the program keeps the weights it was loaded with)."""
    from studio.core.project.analysis import analyze
    from studio.core.project.recipe import StepResult, run_step
    from studio.core.project.steps import OPS, Context

    model = load_model(str(files["pt2"]))
    data = load_data("sample:mnist5k").subset(slice(0, 101))
    start = StepResult("load", {}, "original", model, {})
    step = run_to_end(run_step(start, "prune", OPS["prune"].validate("prune", {"sparsity": 0.5}), Context(data, "cpu", CancelToken(), model)))
    assert step.metrics["sparsity"] == pytest.approx(0.5, abs=0.01) and 0 <= step.metrics["accuracy"] <= 1
    assert run_to_end(analyze(step.model)).total.sparsity == pytest.approx(0.5, abs=0.01)
    assert run_to_end(analyze(model)).total.sparsity == 0.0
    with pytest.raises(StudioError, match="takes batches of 2 only: export it with a dynamic batch"):
        run_to_end(run_step(start, "finetune", OPS["finetune"].validate("finetune", {"epochs": 1}), Context(data, "cpu", CancelToken(), model)))


def _matmul_in_if_branches(path):
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)

    def branch(name):
        w = numpy_helper.from_array(rng.normal(size=(4, 4)).astype(np.float32), f"w_{name}")
        return helper.make_graph([helper.make_node("MatMul", ["x", f"w_{name}"], [f"{name}_out"], name=f"fc_{name}")], name, [],
                                 [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, ["N", 4])], [w])

    cond = numpy_helper.from_array(np.array(True), "cond")
    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch("then"), else_branch=branch("else"))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [cond])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.parametrize("make", ["constant_node_onnx", "matmul_in_if_branches"])
def test_onnx_weights_in_constant_nodes_and_subgraphs_are_pruned(tmp_path, make):
    import onnx_cases

    (_matmul_in_if_branches if make == "matmul_in_if_branches" else getattr(onnx_cases, make))(tmp_path / "m.onnx")
    model = load_model(str(tmp_path / "m.onnx"))
    pruned = magnitude(model, 0.5)
    assert weight_sparsity(pruned) == pytest.approx(0.5, abs=0.02)
    x = {"x": np.random.default_rng(0).random((3, 4), np.float32)}
    assert predict(pruned, x).shape == predict(model, x).shape  # still runs in ONNX Runtime
