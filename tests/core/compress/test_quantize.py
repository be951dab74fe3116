import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from studio.core.compress.quantize import quantize
from studio.core.compress.quantize_advice import suggest_mode
from studio.core.compress.quantize_ort import MODES
from studio.core.compress.quantize_sensitivity import quant_sensitivity
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet, load_data
from studio.core.evaluate.metrics import evaluate
from studio.core.evaluate.runtime import ort_session
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.formats.to_onnx import to_onnx
from studio.core.inspect.precision import quantized_ops
from studio.core.process.jobs import Cancelled, CancelToken, run_to_end
from studio.core.project.recipe import parse_recipe, run_recipe

LAYERS = ["node_conv2d", "node_conv2d_1", "node_linear", "node_linear_1"]  # digits-cnn: conv1, conv2, fc1, fc2


@pytest.fixture(scope="module")
def cnn():
    return to_onnx(load_model("sample:digits-cnn"))


@pytest.fixture(scope="module")
def digits():
    return load_data("sample:digits")


@pytest.fixture(scope="module")
def fp32_accuracy(cnn, digits):
    return evaluate(cnn, digits.test())["accuracy"]


def precisions(model) -> dict[str, str]:
    """Layer (float graph's node name) → precision, whatever suffix the quantizer gave the node."""
    rows = quantized_ops(model.onnx)
    return {layer: next(r.precision for r in rows if re.fullmatch(re.escape(layer) + r"(_MatMul)?(_quant|_Q\d)?", r.node))
            for layer in LAYERS}


@pytest.mark.parametrize(
    "mode, max_ratio, expected",
    [
        ("dynamic", 0.35, {"int8"}),
        ("static", 0.35, {"int8"}),
        ("fp16", 0.55, {"fp16"}),
        ("weights-only", 0.35, {"float", "int4"}),  # convolutions stay float: MatMulNBits covers matrix products
    ],
)
def test_every_mode_runs_in_ort_keeps_accuracy_and_shrinks(cnn, digits, fp32_accuracy, mode, max_ratio, expected):
    before = full_onnx(cnn).SerializeToString()
    q = run_to_end(quantize(cnn, digits, mode=mode))
    assert q.format is Format.ONNX and q.module is None
    ort_session(q)  # ONNX Runtime loads it
    result = evaluate(q, digits.test())
    assert result["runtime"].startswith("onnxruntime")
    assert result["accuracy"] >= fp32_accuracy - 0.02
    assert q.size_bytes == len(full_onnx(q).SerializeToString()) < max_ratio * len(before)
    assert set(precisions(q).values()) == expected
    assert any("quantized by ONNX Runtime" in n for n in q.notes)
    assert full_onnx(cnn).SerializeToString() == before  # the version it started from is untouched
    assert [i.type.tensor_type.elem_type for i in q.onnx.graph.input] == [onnx.TensorProto.FLOAT]  # io stays float32


@pytest.mark.parametrize("calibration", ["minmax", "entropy", "percentile"])
def test_static_calibrates_on_unlabeled_data(cnn, fp32_accuracy, calibration):
    unlabeled = load_data({"path": "sample:digits", "labels": "none"})
    q = run_to_end(quantize(cnn, unlabeled, mode="static", calibration=calibration, samples=64))
    assert set(precisions(q).values()) == {"int8"}
    assert evaluate(q, load_data("sample:digits").test())["accuracy"] >= fp32_accuracy - 0.02


def test_static_needs_data(cnn):
    with pytest.raises(StudioError, match="calibrates on data"):
        run_to_end(quantize(cnn, None, mode="static"))


@pytest.mark.parametrize("mode", ["dynamic", "static", "fp16", "weights-only"])
def test_excluded_layers_stay_float(cnn, digits, mode):
    q = run_to_end(quantize(cnn, digits, mode=mode, exclude=["fc1", "Conv"]))  # a layer name and an op type
    p = precisions(q)
    assert p["node_conv2d"] == p["node_conv2d_1"] == p["node_linear"] == "float"
    assert p["node_linear_1"] != "float"


def test_an_exclusion_that_matches_nothing_is_an_error(cnn, digits):
    with pytest.raises(StudioError, match="'fc9' matches no layer"):
        run_to_end(quantize(cnn, digits, exclude=["fc9"]))


def test_sensitivity_ranks_every_layer_worst_first(cnn, digits):
    ranking = run_to_end(quant_sensitivity(cnn, digits))
    assert sorted(r.layer for r in ranking.layers) == sorted(LAYERS)
    sqnr = [r.sqnr_db for r in ranking.layers]
    assert sqnr == sorted(sqnr) and all(s > 10 for s in sqnr)
    assert ranking.metric == "accuracy" and 0.9 < ranking.quantized_score <= 1.0
    assert ranking.rows()[0]["layer"] == ranking.most_sensitive(1)[0]


def test_keep_float_keeps_the_most_sensitive_layers_float(cnn, digits):
    ranking = run_to_end(quant_sensitivity(cnn, digits, exclude=["node_conv2d"]))
    worst = ranking.most_sensitive(2)
    q = run_to_end(quantize(cnn, digits, mode="dynamic", exclude=["node_conv2d"], keep_float=2))
    p = precisions(q)
    assert {layer for layer, prec in p.items() if prec == "float"} == {"node_conv2d", *worst}
    assert any(worst[0] in n for n in q.notes)


def test_max_drop_keeps_as_few_layers_float_as_it_can(cnn, digits):
    q = run_to_end(quantize(cnn, digits, mode="static", keep_float=4, max_drop=1.0))  # any drop is allowed
    assert set(precisions(q).values()) == {"int8"}
    with pytest.raises(StudioError, match="needs a budget"):
        run_to_end(quantize(cnn, digits, max_drop=0.01))


def test_cancelling_stops_the_job(cnn, digits):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(quantize(cnn, digits, mode="static", cancel=token))


def test_quantize_step_through_a_recipe(tmp_path):
    recipe = parse_recipe({"model": "sample:digits-cnn", "data": "sample:digits",
                           "steps": [{"quantize": {"mode": "static", "samples": 128, "exclude": ["fc2"]}}],
                           "export": {"path": str(tmp_path / "q.onnx")}})
    (op, options), = recipe.steps
    assert (options["calibration"], options["per_channel"], options["keep_float"]) == ("minmax", True, 0)
    result = run_to_end(run_recipe(recipe))
    (step,) = result.steps
    assert step.label == "int8 static (minmax, 128 samples)"
    assert step.metrics["runtime"].startswith("onnxruntime") and step.metrics["accuracy"] > 0.95
    assert step.metrics["agreement"] > 0.97  # fidelity to the PyTorch original
    assert step.model.format is Format.ONNX
    assert result.export["metrics"]["parity"]["max_abs_diff"] == 0.0  # the file is the quantized version itself
    assert load_model(str(tmp_path / "q.onnx")).size_bytes == result.export["size_bytes"] == step.metrics["size_bytes"]


@pytest.mark.parametrize("options, message", [({"mode": "int3"}, "not one of"), ({"bits": 3}, "not one of"),
                                              ({"keep_float": -1}, "outside"), ({"per_channel": "yes"}, "true or false")])
def test_bad_quantize_options_name_the_key(options, message):
    with pytest.raises(StudioError, match=message):
        parse_recipe({"model": "sample:digits-cnn", "steps": [{"quantize": options}]})


def tiny_conv_net(path, opset: int = 11, unused: bool = False) -> str:
    """A conv net whose weights live in Constant nodes, as in graphs converted from Paddle or TensorFlow."""
    rng = np.random.default_rng(0)
    shapes = {"w1": (32, 3, 3, 3), "b1": (32,), "w2": (64, 32, 3, 3), "b2": (64,), "fc": (64, 10)}
    nodes = [helper.make_node("Constant", [], [k], value=numpy_helper.from_array(rng.normal(0, 0.1, s).astype(np.float32), k))
             for k, s in shapes.items()]
    nodes += [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
              helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c2"], ["r2"]),
              helper.make_node("GlobalAveragePool", ["r2"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
              helper.make_node("MatMul", ["f", "fc"], ["y"])]
    extra = [numpy_helper.from_array(np.zeros(3, np.float32), "unused")] if unused else []
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 10])], extra)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = 7
    onnx.save(proto, path)
    return str(path)


def outputs(model, x: np.ndarray) -> np.ndarray:
    return ort_session(model).run(None, {"x": x})[0]


def tiny_data() -> DataSet:
    return DataSet("tiny", {"x": np.random.default_rng(1).normal(size=(64, 3, 8, 8)).astype(np.float32)}, None)


def weights_stored_int8(proto) -> list[bool]:
    """For each Conv / MatMul weight: whether the file stores it in 8 bits (not float, quantized at run time)."""
    inits = {t.name: t.data_type for t in proto.graph.initializer}
    made_by = {o: n for n in proto.graph.node for o in n.output}
    stored = []
    for node in proto.graph.node:
        if node.op_type in ("Conv", "MatMul", "ConvInteger", "MatMulInteger"):
            w = made_by.get(node.input[1])
            name = w.input[0] if w is not None and w.op_type == "DequantizeLinear" else node.input[1]
            stored.append(inits.get(name) in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8))
    return stored


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_weights_in_constant_nodes_are_quantized_like_initializers(tmp_path, mode):
    model = load_model(tiny_conv_net(tmp_path / "tiny.onnx"))
    q = run_to_end(quantize(model, tiny_data(), mode=mode))
    assert weights_stored_int8(q.onnx) == [True] * 3
    assert q.size_bytes < 0.4 * model.size_bytes
    assert model.onnx.graph.node[0].op_type == "Constant"  # only the quantizer's copy was changed
    x = tiny_data().x["x"][:4]
    assert np.allclose(outputs(q, x), outputs(model, x), atol=0.1)
    if mode == "static":  # per-channel QDQ needs DequantizeLinear's axis: opset 13
        assert any("opset 11 to 13" in n for n in q.notes)


def flaky(run, fails):
    """A mode's run that raises like ORT's quantizers do while fails(src, settings) holds."""

    def attempt(src, dst, s, exclude, reader):
        if fails(src, s):
            raise ValueError("The truth value of an array with more than one element is ambiguous. Use a.any()")
        run(src, dst, s, exclude, reader)

    return attempt


def test_a_failing_quantizer_is_retried_without_pre_processing(cnn, digits, monkeypatch):
    mode = MODES["dynamic"]
    monkeypatch.setitem(MODES, "dynamic", replace(mode, run=flaky(mode.run, lambda src, s: src.name == "prepared.onnx")))
    q = run_to_end(quantize(cnn, digits, mode="dynamic"))
    assert set(precisions(q).values()) == {"int8"}
    assert "retried without pre-processing: The truth value of an array with more than one element is ambiguous. Use a.any()" in q.notes


def test_then_per_tensor(cnn, digits, monkeypatch):
    mode = MODES["static"]
    monkeypatch.setitem(MODES, "static", replace(mode, run=flaky(mode.run, lambda src, s: s.per_channel)))
    q = run_to_end(quantize(cnn, digits, mode="static", samples=64, keep_float=1))  # trials reuse what worked
    assert [n for n in q.notes if n.startswith("retried")] == [
        "retried per tensor: The truth value of an array with more than one element is ambiguous. Use a.any()"]
    assert set(precisions(q).values()) == {"int8", "float"}


def test_when_every_setting_fails_the_error_is_one_line(cnn, digits, monkeypatch):
    mode = MODES["dynamic"]
    monkeypatch.setitem(MODES, "dynamic", replace(mode, run=flaky(mode.run, lambda src, s: True)))
    with pytest.raises(StudioError) as error:
        run_to_end(quantize(cnn, digits, mode="dynamic"))
    message = str(error.value)
    assert "\n" not in message and "also without pre-processing and per tensor" in message and "truth value" in message


def test_onnx_runtime_warnings_never_reach_the_terminal(tmp_path, capfd):
    import onnxruntime

    onnxruntime.set_default_logger_severity(2)  # ORT's default: warnings, such as "Removing initializer"
    model = load_model(tiny_conv_net(tmp_path / "tiny.onnx", opset=13, unused=True))
    capfd.readouterr()
    run_to_end(quantize(model, tiny_data(), mode="static", samples=16))
    out, err = capfd.readouterr()
    assert "Removing initializer" not in out + err and "onnxruntime" not in out + err


def test_a_quantized_model_is_not_quantized_again(cnn, digits):
    q = run_to_end(quantize(cnn, digits, mode="dynamic"))
    for mode in ("dynamic", "static", "fp16"):
        with pytest.raises(StudioError, match=r"already quantized \(it holds .*MatMulInteger.*\): quantize the float original"):
            run_to_end(quantize(q, digits, mode=mode))
    assert suggest_mode(q).mode is None and "already quantized" in suggest_mode(q).reason


def test_the_suggested_mode_fits_the_kind_of_network(cnn, tmp_path):
    conv = suggest_mode(load_model(tiny_conv_net(tmp_path / "tiny.onnx")))
    assert conv.mode == "static" and "ConvInteger" in conv.reason and "slow on CPU" in conv.reason
    assert suggest_mode(cnn).mode == suggest_mode(load_model("sample:digits-cnn")).mode == "static"

    def graph(nodes, inputs, weights):
        g = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.ones(s, np.float32), k) for k, s in weights.items()])
        return Model("test", Format.ONNX, inputs=[TensorSpec(i.name, None, "int64" if i.type.tensor_type.elem_type == 7 else "float32")
                                                 for i in inputs], onnx=helper.make_model(g))

    ids = [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, ["n", "t"])]
    x = [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["t", "n", 4])]
    attention = [helper.make_node("Gather", ["emb", "ids"], ["e"]), helper.make_node("MatMul", ["e", "wq"], ["q"]),
                 helper.make_node("MatMul", ["e", "wk"], ["k"]), helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
                 helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Softmax", ["s"], ["a"]),
                 helper.make_node("MatMul", ["a", "e"], ["y"])]
    transformer = suggest_mode(graph(attention, ids, {"emb": (10, 4), "wq": (4, 4), "wk": (4, 4)}))
    assert transformer == ("dynamic", "a transformer (attention, integer token inputs): dynamic int8 suits its matrix products, no calibration needed")
    lstm = suggest_mode(graph([helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=2)], x, {"w": (1, 8, 4), "r": (1, 8, 2)}))
    assert lstm.mode == "dynamic" and "LSTM" in lstm.reason
    assert suggest_mode(graph([helper.make_node("Relu", ["x"], ["y"])], x, {})).mode is None


CORPUS = Path(__file__).resolve().parents[3] / "corpus"


@pytest.mark.skipif(not (CORPUS / "rapidocr-cls-v2").is_dir(), reason="the real-model corpus is not here (scripts/make_corpus.py)")
def test_a_paddle_conv_net_gets_smaller_with_every_weight_int8():
    model = load_model(str(CORPUS / "rapidocr-cls-v2/ch_ppocr_mobile_v2.0_cls_infer.onnx"))
    x = np.load(CORPUS / "rapidocr-cls-v2/data.npz")["x"]
    q = run_to_end(quantize(model, DataSet("cls", {"x": x}, None), mode=suggest_mode(model).mode, samples=16))
    assert all(weights_stored_int8(q.onnx)) and q.size_bytes < 0.6 * model.size_bytes
    assert (outputs(q, x[:8]).argmax(1) == outputs(model, x[:8]).argmax(1)).all()


def test_quantizing_writes_nothing_into_the_working_folder(tmp_path, monkeypatch, cnn, digits):
    import onnxruntime.quantization as ortq

    original = ortq.quant_pre_process

    def like_ort(*args, **kwargs):  # ORT's symbolic shape inference saves a debug model here when it gives up
        Path("sym_shape_infer_temp.onnx").write_bytes(b"debug")
        return original(*args, **kwargs)

    monkeypatch.setattr(ortq, "quant_pre_process", like_ort)
    monkeypatch.chdir(tmp_path)
    run_to_end(quantize(cnn, digits, mode="static"))
    assert list(tmp_path.iterdir()) == []


def test_a_quantization_that_loses_too_much_keeps_its_worst_layers_float(cnn, digits, monkeypatch):
    from studio.core.compress import quantize as quantize_module
    from studio.core.compress import quantize_sensitivity as qs

    full = run_to_end(quantize(cnn, digits, mode="dynamic", tolerance=0))
    dequantized = sum(n.op_type == "DynamicQuantizeLinear" for n in full.onnx.graph.node)
    real = qs.Probe.outputs

    def lossy(self, proto):  # the fully quantized model answers at random; with a layer kept float it is exact
        out = real(self, proto)
        if sum(n.op_type == "DynamicQuantizeLinear" for n in proto.graph.node) >= dequantized:
            return np.random.default_rng(0).permutation(out)
        return out

    monkeypatch.setattr(qs.Probe, "outputs", lossy)
    kept = run_to_end(quantize(cnn, digits, mode="dynamic"))
    assert any("kept 1 layers float (within it)" in n for n in kept.notes), kept.notes
    assert sum(p == "float" for p in precisions(kept).values()) == 1
    monkeypatch.setattr(quantize_module, "RANKED_LAYERS_MAX", 2)  # too many layers to rank: said, not done
    said = run_to_end(quantize(cnn, digits, mode="dynamic"))
    assert any("too many to rank" in n for n in said.notes) and "float" not in precisions(said).values()
