"""ONNX Runtime's quantizers behind the studio's modes: the prepared copy they read, the names a user
excludes, and the safer settings tried when a quantizer raises."""

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx_cases import tiny_conv_net

from studio.core.compress import quantize_ort
from studio.core.compress.quantize import SEVEN_BIT, quantize
from studio.core.compress.quantize_advice import suggest_mode
from studio.core.compress.quantize_ort import CALIBRATION_BATCH, MODES, Calibration, Settings, aliases, prepared, quantize_prepared
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.runtime import ort_session
from studio.core.formats.load import load_model
from studio.core.inspect.precision import quantized_ops
from studio.core.process.jobs import Cancelled, CancelToken, run_to_end

LAYERS = ["node_conv2d", "node_conv2d_1", "node_linear", "node_linear_1"]  # digits-cnn: conv1, conv2, fc1, fc2


def precisions(model) -> dict[str, str]:
    """Layer (float graph's node name) → precision, whatever suffix the quantizer gave the node."""
    rows = quantized_ops(model.onnx)
    return {layer: next(r.precision for r in rows if re.fullmatch(re.escape(layer) + r"(_MatMul)?(_quant|_Q\d)?", r.node))
            for layer in LAYERS}


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
    mode = MODES["static"]  # static pre-processes always; dynamic only a graph with BatchNormalization to fold
    monkeypatch.setitem(MODES, "static", replace(mode, run=flaky(mode.run, lambda src, s: src.name == "prepared.onnx")))
    q = run_to_end(quantize(cnn, digits, mode="static", samples=64))
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
    mode = MODES["static"]
    monkeypatch.setitem(MODES, "static", replace(mode, run=flaky(mode.run, lambda src, s: True)))
    with pytest.raises(StudioError) as error:
        run_to_end(quantize(cnn, digits, mode="static", samples=64))
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


@pytest.mark.parametrize("mode, settings, words", [
    ("dynamic", {}, "int8 dynamic"),
    ("dynamic", {"per_channel": False}, "int8 dynamic (per tensor)"),
    ("static", {"calibration": "entropy", "samples": 64}, "int8 static (entropy, 64 samples)"),
    ("fp16", {}, "fp16"),
    ("weights-only", {"bits": 8}, "int8 weights only"),
    ("static", {"samples": 64, "reduced": True}, "int8 static (minmax, 64 samples, 7-bit weights)"),
    ("dynamic", {"reduced": True}, "int8 dynamic"),  # 7 bits lost more than saturating did (saturation.md)
])
def test_settings_describe_themselves_for_a_versions_label(mode, settings, words):
    assert Settings(mode, **{"reduced": False, **settings}).describe() == words


def test_where_int8_kernels_saturate_weights_are_rounded_to_7_bits_and_the_version_says_why(cnn, digits, monkeypatch):
    monkeypatch.setattr(quantize_ort, "saturates", lambda: True)  # as on an x86 CPU without VNNI
    q = run_to_end(quantize(cnn, digits, mode="static", samples=64, tolerance=None))
    weights = [onnx.numpy_helper.to_array(t) for t in q.onnx.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights and max(int(np.abs(w.astype(np.int16)).max()) for w in weights) == 64
    assert "quantized by ONNX Runtime: int8 static (minmax, 64 samples, 7-bit weights)" in q.notes and SEVEN_BIT in q.notes
    monkeypatch.setattr(quantize_ort, "saturates", lambda: False)
    q = run_to_end(quantize(cnn, digits, mode="static", samples=64, tolerance=None))
    weights = [onnx.numpy_helper.to_array(t) for t in q.onnx.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in weights) == 127 and SEVEN_BIT not in q.notes


def test_pre_processing_that_folds_a_computed_weight_into_copies_is_not_kept(tmp_path):
    """Silero VAD reorders its LSTM gates in the graph: ORT's pre-processing folded the result into a
    constant for each use and the file grew 1.43×. Here three computations of one weight would give three."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(128, 128)).astype(np.float32), "w")
    nodes = [helper.make_node("Transpose", ["w"], ["wt"]), helper.make_node("Neg", ["w"], ["wn"]), helper.make_node("Abs", ["w"], ["wa"]),
             helper.make_node("MatMul", ["x", "wt"], ["a"]), helper.make_node("MatMul", ["a", "wn"], ["b"]),
             helper.make_node("MatMul", ["b", "wa"], ["y"])]
    graph = helper.make_graph(nodes, "copies", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 128])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 128])], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "copies.onnx")
    with prepared(load_model(str(tmp_path / "copies.onnx")), "static") as prep:
        assert prep.proto.ByteSize() < 1.05 * graph.ByteSize()
        assert any("pre-processing skipped: it made the file" in note for note in prep.notes)


def test_a_prepared_model_has_named_nodes_and_weights_as_initializers(tmp_path):
    model = load_model(tiny_conv_net(tmp_path / "tiny.onnx"))
    with prepared(model, "static") as prep:
        folder = prep.folder
        assert prep.path.is_file() and prep.path.parent == folder
        assert all(node.name for node in prep.proto.graph.node)
        assert not any(node.op_type == "Constant" for node in prep.proto.graph.node)
        assert {"w1", "w2", "fc"} <= {t.name for t in prep.proto.graph.initializer}
        assert [op for _, op in prep.layers()] == ["Conv", "Conv", "MatMul"]
        opset = next(o.version for o in prep.proto.opset_import if o.domain in ("", "ai.onnx"))
        assert opset >= 13  # per-channel DequantizeLinear needs opset 13: the opset-11 graph was converted
    assert not folder.exists()  # the files live as long as the context
    assert model.onnx.graph.node[0].op_type == "Constant"  # the model it started from is untouched


def test_a_mode_without_pre_processing_quantizes_the_float_copy(cnn):
    with prepared(cnn, "fp16") as prep:
        assert prep.raw is None and prep.path.name == "float.onnx"
        assert [s for _, s, _ in prep.attempts(Settings("fp16"))] == [Settings("fp16")]  # nothing safer to try


def test_fp16_folds_a_batch_norm_whose_running_variance_fp16_cannot_hold(tmp_path):
    # PP-OCR's detector keeps a running variance of 9.8e7: fp16's largest is 65504
    rng = np.random.default_rng(0)
    inits = [onnx.numpy_helper.from_array(a, name) for name, a in [
        ("w", rng.normal(size=(4, 3, 3, 3)).astype(np.float32)), ("scale", np.full(4, 1e4, np.float32)),
        ("bias", np.zeros(4, np.float32)), ("mean", np.zeros(4, np.float32)), ("var", np.full(4, 1e8, np.float32))]]
    nodes = [onnx.helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             onnx.helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["y"], name="bn")]
    graph = onnx.helper.make_graph(nodes, "bn", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 6, 6])], initializer=inits)
    path = tmp_path / "bn.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    model = load_model(str(path))
    x = rng.normal(size=(1, 3, 8, 8)).astype(np.float32)
    half = run_to_end(quantize(model, None, mode="fp16"), lambda _: None)
    assert np.abs(outputs(half, x) - outputs(model, x)).max() < 1e-2 * np.abs(outputs(model, x)).max()


def test_fp16_keeps_float_the_operators_whose_values_on_the_data_pass_its_range(tmp_path):
    # openWakeWord's mel spectrogram squares STFT magnitudes of 5.6e5: in fp16 its every output was NaN. Built as
    # it is: ORT's CPU computes the Conv and Pow of an fp16 graph in float, but moves data through Unsqueeze and
    # Transpose in fp16, where STFT magnitudes past 65504 become inf
    rng = np.random.default_rng(0)
    make, tensor = onnx.helper.make_node, onnx.numpy_helper.from_array
    nodes = [make("Unsqueeze", ["x", "axis"], ["frames"], name="frames"),
             make("Conv", ["frames", "w"], ["stft"], name="stft", strides=[4]),  # |stft| ~ 1e4–1e5
             make("Unsqueeze", ["stft", "axis"], ["wide"], name="wide"),
             make("Transpose", ["wide"], ["turned"], name="turn", perm=[0, 1, 3, 2]),
             make("Pow", ["turned", "two"], ["power"], name="square"),  # ~1e9
             make("Log", ["power"], ["y"], name="log")]
    inits = [tensor((10 * rng.normal(size=(16, 1, 8))).astype(np.float32), "w"), tensor(np.array([1]), "axis"),
             tensor(np.array(2, np.float32), "two")]
    graph = onnx.helper.make_graph(nodes, "power", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 64])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], initializer=inits)
    path = tmp_path / "power.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    model = load_model(str(path))
    x = (1e3 * rng.normal(size=(40, 64))).astype(np.float32)
    blind = run_to_end(quantize(model, None, mode="fp16"), lambda _: None)
    assert not np.isfinite(outputs(blind, x[:4])).all()  # without data nothing tells which values overflow
    half = run_to_end(quantize(model, DataSet("loud", {"x": x}, None), mode="fp16"), lambda _: None)
    assert any(n.startswith("kept float the 5 operators whose values on the data pass") for n in half.notes)  # stft to log
    # log powers of 7–22, off by up to 0.1 where the Conv's sum of fp16-rounded inputs nearly cancels
    assert np.abs(outputs(half, x[:4]) - outputs(model, x[:4])).max() < 0.2
    # no round trip through fp16 between two operators kept float
    assert not any(n.op_type == "Cast" and n.input[0] in {"stft", "wide", "turned", "power"} for n in half.onnx.graph.node)


def test_attempts_go_from_the_preferred_to_the_safest(cnn):
    with prepared(cnn, "dynamic") as prep:
        tries = prep.attempts(Settings("dynamic"))
        if prep.raw is None:  # pre-processing failed on this graph: only the per-tensor fallback is left
            assert [s.per_channel for _, s, _ in tries] == [True, False]
        else:
            assert [(path, s.per_channel) for path, s, _ in tries] == [(prep.path, True), (prep.raw, True), (prep.raw, False)]
        assert len(prep.attempts(Settings("dynamic", per_channel=False))) == len(tries) - 1


def test_exclusions_resolve_to_node_names_by_layer_node_or_op_type(cnn):
    with prepared(cnn, "dynamic") as prep:
        gemm = next(n for n in prep.proto.graph.node if n.op_type == "Gemm")
        assert aliases(gemm) == [gemm.name, gemm.name + "_MatMul"]  # what ORT calls a Gemm it turned into a MatMul
        conv = next(n for n in prep.proto.graph.node if n.op_type == "Conv")
        assert aliases(conv) == [conv.name]
        assert set(prep.resolve(["Conv"])) == {"node_conv2d", "node_conv2d_1"}
        assert set(prep.resolve(["fc1"])) == {"node_linear", "node_linear_MatMul"}  # the layer of the weight fc1.weight
        assert set(prep.resolve(["node_conv*"])) == {"node_conv2d", "node_conv2d_1"}
        with pytest.raises(StudioError, match="'conv9' matches no layer"):
            prep.resolve(["Conv", "conv9"])


def test_a_quantized_proto_loads_in_ort_with_the_excluded_layer_float(cnn, digits):
    with prepared(cnn, "dynamic") as prep:
        proto = quantize_prepared(prep, Settings("dynamic"), prep.resolve(["fc2"]), digits)
    ort_session(replace(cnn, onnx=proto))
    rows = {r.node: (r.op_type, r.precision) for r in quantized_ops(proto)}
    assert rows["node_linear_1_MatMul"] == ("MatMul", "float")  # fc2, as ORT renamed the Gemm it left float
    assert sorted(op for op, p in rows.values() if p == "int8") == ["ConvInteger", "ConvInteger", "MatMulInteger"]


def test_later_runs_start_after_the_settings_that_failed(cnn, digits, monkeypatch):
    seen = []
    mode = MODES["dynamic"]

    def run(src, dst, s, exclude, reader):
        seen.append((src.name, s.per_channel))
        if s.per_channel:
            raise ValueError("per-channel axis unknown")
        mode.run(src, dst, s, exclude, reader)

    monkeypatch.setitem(MODES, "dynamic", replace(mode, run=run))
    with prepared(cnn, "dynamic") as prep:
        notes = len(prep.notes)
        quantize_prepared(prep, Settings("dynamic"), [], digits)
        tried = len(seen)
        assert seen[-1][1] is False and all(per_channel for _, per_channel in seen[:-1])  # every per-channel try, then per tensor
        assert len(prep.notes) == notes + 1  # the change is noted
        quantize_prepared(prep, Settings("dynamic"), [], digits, name="again")
        assert seen[tried:] == [seen[-1]]  # the next run goes straight to what worked


def test_an_already_quantized_model_is_refused_before_any_work(cnn, digits):
    with prepared(cnn, "dynamic") as prep:
        proto = quantize_prepared(prep, Settings("dynamic"), [], digits)
    with pytest.raises(StudioError, match="already quantized"):
        with prepared(replace(cnn, onnx=proto), "static"):
            pass


def test_calibration_feeds_batches_of_the_train_split_up_to_the_samples(cnn, digits):
    samples = 10 * CALIBRATION_BATCH + 3
    reader = Calibration(digits, cnn, samples)
    feeds = list(iter(reader.get_next, None))
    assert [len(f["input"]) for f in feeds] == [CALIBRATION_BATCH] * 10 + [3]
    assert all(set(f) == {"input"} for f in feeds)  # inputs only: unlabeled data calibrates as well
    np.testing.assert_array_equal(feeds[0]["input"], digits.train().x["input"][:CALIBRATION_BATCH])


def test_calibration_reads_a_range_of_its_batches_as_orts_strided_calibration_asks(cnn, digits):
    reader = Calibration(digits, cnn, 80)
    assert len(reader) == 80 // CALIBRATION_BATCH
    reader.set_range(start_index=3, end_index=5)
    feeds = list(iter(reader.get_next, None))
    b = CALIBRATION_BATCH
    assert len(feeds) == 2 and np.array_equal(feeds[0]["input"], digits.train().x["input"][3 * b : 4 * b])


@pytest.mark.parametrize("calibration", ["entropy", "percentile"])
def test_histogram_calibration_holds_one_small_batch_of_activations_at_a_time(cnn, digits, monkeypatch, calibration):
    # ORT's histogram calibrators keep every activation they are given until they histogram it: given all
    # 256 examples at once, PP-OCR's recogniser needed more than 24 GB
    from onnxruntime.quantization import calibrate

    held = []  # examples given to each collect_data
    collect, read = calibrate.HistogramCalibrater.collect_data, Calibration.get_next

    def counted(reader):
        feed = read(reader)
        held[-1] += 0 if feed is None else len(feed["input"])
        return feed

    monkeypatch.setattr(calibrate.HistogramCalibrater, "collect_data", lambda self, reader: held.append(0) or collect(self, reader))
    monkeypatch.setattr(Calibration, "get_next", counted)
    with prepared(cnn, "static") as prep:
        quantize_prepared(prep, Settings("static", calibration=calibration, samples=40), [], digits)
    assert held == [CALIBRATION_BATCH] * (40 // CALIBRATION_BATCH)


def test_calibration_needs_examples_and_stops_when_cancelled(cnn, digits):
    empty = digits.subset(slice(0, 0))
    with pytest.raises(StudioError, match="no examples to calibrate on"):
        Calibration(empty, cnn, 16)
    token = CancelToken()
    reader = Calibration(digits, cnn, 16, token)
    assert reader.get_next() is not None
    token.cancel()
    with pytest.raises(Cancelled):
        reader.get_next()


def test_static_calibrates_a_file_once_however_often_it_is_quantized(cnn, digits, monkeypatch):
    from onnxruntime.quantization import calibrate

    collected = []
    original = calibrate.MinMaxCalibrater.collect_data
    monkeypatch.setattr(calibrate.MinMaxCalibrater, "collect_data", lambda self, reader: collected.append(1) or original(self, reader))
    with prepared(cnn, "static") as prep:
        every = quantize_prepared(prep, Settings("static", samples=64), [], digits)
        weighted = quantize_prepared(prep, Settings("static", samples=64, weightless=False), prep.resolve(["fc2"]), digits)
        assert len(collected) == 1  # the fallback and the per-layer trials reuse the ranges ORT cached
        quantize_prepared(prep, Settings("static", samples=32), [], digits)
        assert len(collected) == 2  # another sample count calibrates again
    a, b = ({t.name: onnx.numpy_helper.to_array(t) for t in p.graph.initializer if t.name.endswith("_scale")} for p in (every, weighted))
    assert "input_scale" in a and "input_scale" in b
    for name in a.keys() & b.keys():  # the weighted file's ranges come from the same calibration
        np.testing.assert_array_equal(a[name], b[name])


def masked_attention(tmp_path: Path):
    """Scores x·W / 2 plus (1 − mask) × float32's lowest, then a softmax: how transformers' exports mask padding."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    w = helper.make_tensor("W", TensorProto.FLOAT, [8, 8], rng.normal(size=(8, 8)).astype(np.float32).ravel())
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    lowest = helper.make_tensor("lowest", TensorProto.FLOAT, [], [float(np.finfo(np.float32).min)])
    nodes = [helper.make_node("MatMul", ["x", "W"], ["products"], name="products"),
             helper.make_node("Div", ["products", "two"], ["scores"], name="scores"),
             helper.make_node("Sub", ["one", "mask"], ["hidden"], name="hidden"),
             helper.make_node("Mul", ["hidden", "lowest"], ["far"], name="far"),
             helper.make_node("Add", ["scores", "far"], ["masked"], name="masked"),
             helper.make_node("Softmax", ["masked"], ["y"], name="softmax", axis=-1)]
    spec = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 8])  # noqa: E731
    graph = helper.make_graph(nodes, "masked", [spec("x"), spec("mask")], [spec("y")], [w, one, two, lowest])
    path = tmp_path / "masked.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return load_model(str(path))


def test_values_standing_for_minus_infinity_stay_float(tmp_path):
    model = masked_attention(tmp_path)
    rng = np.random.default_rng(1)
    mask = (rng.random((64, 8)) < 0.8).astype(np.float32)
    mask[:, 0] = 1
    data = DataSet("masked", {"x": rng.normal(size=(64, 8)).astype(np.float32), "mask": mask}, None)
    q = run_to_end(quantize(model, data, mode="static", tolerance=None))
    feed = {"x": data.x["x"][:16], "mask": mask[:16]}
    ref, out = ort_session(model).run(None, feed)[0], ort_session(q).run(None, feed)[0]
    # the masked sums on 256 steps from −3.4e38 put every score on one step: a uniform softmax, 0.74 off
    assert np.abs(out - ref).max() < 0.05
    assert any("kept float the 3 operators around values calibrated beyond ±1e30" in n for n in q.notes)
    assert {op.precision for op in quantized_ops(q.onnx) if op.op_type == "MatMul"} == {"int8"}
