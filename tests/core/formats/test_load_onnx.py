"""ONNX files: parsed without running anything, signatures and dtypes from the file, external data only
from the model's folder and kept apart from the proto until an operation needs it."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import constant_node_onnx, external_data_onnx, if_subgraph_onnx, two_layer_onnx

from studio.core.errors import StudioError
from studio.core.formats import model as model_module
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import all_graphs, all_tensors, full_onnx, load_onnx, tensor_array
from studio.core.formats.samples import build_sample
from studio.core.inspect.layers import layers_of
from studio.core.inspect.stats import model_stats

LENET5_PARAMS = sum(p.numel() for p in build_sample("lenet-5").parameters())


def count(model) -> int:
    return model_stats(layers_of(model)).parameters


def test_onnx_signature_comes_from_the_file(files):
    model = load_model(str(files["onnx"]))
    assert model.inputs[0].shape == (2, 1, 28, 28)
    assert model.outputs[0].shape == (2, 10)


def test_onnx_external_data_is_loaded_and_sized(files, tmp_path):
    path = tmp_path / "ext.onnx"
    external_data_onnx(files["onnx"], path)
    model = load_model(str(path))
    assert count(model) == LENET5_PARAMS
    assert model.size_bytes == path.stat().st_size + (tmp_path / "ext.onnx.data").stat().st_size


def test_onnx_external_weights_stay_apart_until_an_operation_needs_the_proto(files, tmp_path):
    from studio.core.evaluate.measure import size_metrics
    from studio.core.evaluate.runtime import predict

    path = tmp_path / "ext.onnx"
    external_data_onnx(files["onnx"], path)
    model = load_model(str(path))
    before = {layer.name: {k: w.copy() for k, w in layer.weights.items()} for layer in layers_of(model)}
    apart = size_metrics(model)
    assert model.external, "statistics and sizes must not copy the weights into protobuf"
    inline = onnx.load(str(path))  # onnx's own reader: the same values
    assert all(np.array_equal(numpy_helper.to_array(t), before_w) for t in inline.graph.initializer
               for layer in before.values() for k, before_w in layer.items() if k == t.name)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    y = predict(model, {model.inputs[0].name: x})  # needs the whole proto: the weights go in once
    assert not model.external and not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.onnx.graph.initializer)
    reference = load_model(str(files["onnx"]))
    assert np.allclose(y, predict(reference, {reference.inputs[0].name: x}), atol=1e-5)
    after = size_metrics(model)
    assert after["parameters"] == apart["parameters"] and after["sparsity"] == apart["sparsity"]
    assert abs(after["size_bytes"] - apart["size_bytes"]) < 100 * len(inline.graph.initializer)  # only the references differ


def test_a_large_onnx_file_opened_for_a_window_is_parsed_apart(tmp_path, monkeypatch):
    """Parsing a proto of hundreds of MB holds Python's lock for a second: a window's open parses it
    in a child process, and the large weights come back outside the proto."""
    from studio.core.evaluate.runtime import predict
    from studio.core.formats import transfer

    path = two_layer_onnx(tmp_path / "mlp.onnx")
    monkeypatch.setattr(model_module, "CHILD_READ_BYTES", 1 << 20)
    apart, direct = load_model(str(path), responsive=True), load_model(str(path))
    assert [key[0] for key in apart.external] == [transfer.TRANSFER] and not direct.external
    assert apart.size_bytes == direct.size_bytes and apart.inputs == direct.inputs and apart.notes == direct.notes
    x = {"x": np.random.default_rng(0).standard_normal((2, 1024), dtype=np.float32)}
    assert np.array_equal(predict(apart, x), predict(direct, x))
    with pytest.raises(StudioError, match="not valid ONNX"):
        (tmp_path / "bad.onnx").write_bytes(b"\x0a" + bytes(2 << 20))
        load_model(str(tmp_path / "bad.onnx"), responsive=True)


def test_onnx_external_data_outside_the_folder_is_refused(files, tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    external_data_onnx(files["onnx"], tmp_path / "ext.onnx")
    model = onnx.load(tmp_path / "ext.onnx", load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../ext.onnx.data"
    onnx.save(model, inner / "escape.onnx")
    with pytest.raises(StudioError, match="outside the model's folder"):
        load_model(str(inner / "escape.onnx"))


def test_onnx_missing_external_data_is_named(files, tmp_path):
    external_data_onnx(files["onnx"], tmp_path / "ext.onnx")
    (tmp_path / "ext.onnx.data").unlink()
    with pytest.raises(StudioError, match="missing"):
        load_model(str(tmp_path / "ext.onnx"))


def save(path, nodes, inputs, outputs, initializers=(), opset: int = 17, domains=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    onnx.save(helper.make_model(graph, opset_imports=imports), path)
    return path


def test_inputs_keep_their_dtypes_and_dynamic_axes(tmp_path):
    emb = numpy_helper.from_array(np.ones((10, 4), np.float32), "emb")
    path = save(tmp_path / "tokens.onnx", [helper.make_node("Gather", ["emb", "ids"], ["y"], name="embed")],
                [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", None, 7]),
                 helper.make_tensor_value_info("emb", TensorProto.FLOAT, [10, 4])],  # a weight declared as an input too
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", None, 7, 4])], [emb])
    model = load_onnx(path, "tokens.onnx")
    assert [(s.name, s.shape, s.dtype) for s in model.inputs] == [("ids", ("batch", None, 7), "int64")]
    assert model.outputs[0].shape == ("batch", None, 7, 4) and model.outputs[0].dtype == "float32"
    assert model.notes == [] and model.size_bytes == path.stat().st_size


def test_what_stops_a_runtime_is_noted(tmp_path):
    path = save(tmp_path / "odd.onnx",
                [helper.make_node("Add", ["x", "ghost"], ["h"], name="add"),
                 helper.make_node("Fancy", ["h"], ["y"], name="fancy", domain="com.example")],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], domains=["com.example"])
    notes = load_onnx(path, "odd.onnx").notes
    assert len(notes) == 2
    assert "'ghost'" in notes[0] and "'add'" in notes[0] and "refuse" in notes[0]
    assert "com.example (Fancy)" in notes[1]


def test_an_opset_newer_than_the_library_is_noted(tmp_path):
    newer = onnx.defs.onnx_opset_version() + 1
    path = save(tmp_path / "new.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], opset=newer)
    assert any(f"opset {newer}" in n for n in load_onnx(path, "new.onnx").notes)


@pytest.mark.parametrize("content, words", [(b"\xff\xfe not a protobuf", "not valid ONNX"),
                                            (onnx.ModelProto(ir_version=8).SerializeToString(), "no ONNX graph")])
def test_what_is_not_an_onnx_model_is_refused_in_one_line(tmp_path, content, words):
    (tmp_path / "m.onnx").write_bytes(content)
    with pytest.raises(StudioError, match=words):
        load_onnx(tmp_path / "m.onnx", "m.onnx")


@pytest.mark.parametrize("dims, words", [([-1, 4], "negative dimension"), ([1 << 20, 1 << 20], "claims 1,099,511,627,776 values")])
def test_weights_that_claim_more_than_they_store_are_refused(tmp_path, dims, words):
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    del w.dims[:]
    w.dims.extend(dims)
    path = save(tmp_path / "huge.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    with pytest.raises(StudioError, match=words):
        load_onnx(path, "huge.onnx")


def test_every_subgraph_and_every_stored_tensor_is_walked(tmp_path):
    if_subgraph_onnx(tmp_path / "if.onnx")
    proto = onnx.load(tmp_path / "if.onnx")
    assert sorted(g.name for g in all_graphs(proto.graph)) == ["else", "if_model", "then"]
    assert sorted(t.name for t in all_tensors(proto.graph)) == ["a", "b"]  # initializers of the branches
    constant_node_onnx(tmp_path / "constants.onnx")
    values = [t.name for t in all_tensors(onnx.load(tmp_path / "constants.onnx").graph)]  # in Constant nodes
    assert len(values) == 4 and {"w1", "b1", "w2"} <= set(values)  # and the unnamed shape


def test_external_weights_read_apart_have_the_values_onnx_reads(files, tmp_path):
    path = tmp_path / "ext.onnx"
    external_data_onnx(files["onnx"], path)
    model = load_onnx(path, "ext.onnx")
    inline = {t.name: numpy_helper.to_array(t) for t in onnx.load(files["onnx"]).graph.initializer}
    apart = {t.name: tensor_array(t, model.external) for t in model.onnx.graph.initializer}
    assert apart.keys() == inline.keys() and all(np.array_equal(apart[k], inline[k]) for k in inline)
    proto = full_onnx(model)
    assert full_onnx(model) is proto and not model.external  # the weights move into the proto once
    assert all(np.array_equal(numpy_helper.to_array(t), inline[t.name]) for t in proto.graph.initializer)
