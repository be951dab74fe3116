import pickle
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from onnx_cases import constant_node_onnx, external_data_onnx, if_subgraph_onnx, two_layer_onnx

from studio.core.errors import StudioError, TrustRequired
from studio.core.formats import model as model_module
from studio.core.formats.load import load_model, parse_input_shape
from studio.core.formats.model import Format
from studio.core.formats.samples import SAMPLE_MODELS, build_sample
from studio.core.inspect.layers import layers_of
from studio.core.inspect.stats import model_stats

LENET5_PARAMS = sum(p.numel() for p in build_sample("lenet-5").parameters())


def count(model) -> int:
    return model_stats(layers_of(model)).parameters


@pytest.mark.parametrize("name", list(SAMPLE_MODELS))
def test_samples_load_with_their_signature(name):
    model = load_model(f"sample:{name}")
    assert model.format is Format.SAMPLE
    assert count(model) == sum(p.numel() for p in model.module.parameters())
    assert model.inputs[0].shape[1:] == SAMPLE_MODELS[name].input_shape


def test_sample_parameter_counts_match_design():
    assert count(load_model("sample:lenet-300-100")) == 266_610
    assert count(load_model("sample:lenet-5")) == 431_080 == LENET5_PARAMS


@pytest.mark.parametrize(
    "kind, fmt",
    [
        ("torchscript", Format.TORCHSCRIPT),
        ("pt2", Format.EXPORTED_PROGRAM),
        ("state_dict", Format.STATE_DICT),
        ("safetensors", Format.STATE_DICT),
        ("onnx", Format.ONNX),
        ("onnx_dynamo", Format.ONNX),
    ],
)
def test_each_format_is_recognised_by_content_and_counted(files, tmp_path, kind, fmt):
    renamed = tmp_path / "model.bin"  # the extension says nothing: content decides
    shutil.copy(files[kind], renamed)
    if (files[kind].parent / (files[kind].name + ".data")).exists():
        renamed = files[kind]
    model = load_model(str(renamed))
    assert model.format is fmt
    assert count(model) == LENET5_PARAMS


def test_onnx_signature_comes_from_the_file(files):
    model = load_model(str(files["onnx"]))
    assert model.inputs[0].shape == (2, 1, 28, 28)
    assert model.outputs[0].shape == (2, 10)


def test_pt2_signature_comes_from_the_file(files):
    model = load_model(str(files["pt2"]))
    assert model.inputs[0].shape == (2, 1, 28, 28)
    assert model.capabilities()["prune_structured"].allowed is False


def test_torchscript_needs_an_input_shape_and_takes_one(files):
    model = load_model(str(files["torchscript"]))
    assert not model.input_shapes_known
    assert any("--input-shape" in n for n in model.notes)
    shaped = load_model(str(files["torchscript"]), input_shape="4,1,28,28")
    assert shaped.inputs[0].shape == (4, 1, 28, 28)
    assert shaped.outputs[0].shape == (4, 10)


def test_state_dict_says_there_is_no_architecture(files):
    model = load_model(str(files["state_dict"]))
    caps = model.capabilities()
    assert caps["inspect"].allowed
    assert not any(c.allowed for op, c in caps.items() if op != "inspect")
    assert "no architecture" in caps["prune_unstructured"].reason


def test_pickled_module_is_refused_without_trust(files):
    with pytest.raises(TrustRequired, match="runs code"):
        load_model(str(files["pickled"]))
    model = load_model(str(files["pickled"]), trust=True)
    assert model.format is Format.PICKLED_MODULE
    assert count(model) == LENET5_PARAMS


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


def test_malicious_pickle_never_runs_without_trust(tmp_path):
    target = tmp_path / "created-by-payload.txt"
    bad = tmp_path / "evil.pt"
    torch.save({"model": _Payload(target)}, bad)
    with pytest.raises(TrustRequired):
        load_model(str(bad))
    legacy = tmp_path / "evil-legacy.pkl"
    legacy.write_bytes(pickle.dumps(_Payload(target), protocol=2))
    with pytest.raises(TrustRequired):
        load_model(str(legacy))
    assert not target.exists()


def test_trusted_pickle_whose_class_is_missing_names_the_class(tmp_path):
    src = tmp_path / "m.pt"
    torch.save(build_sample("digits-cnn"), src)
    data = src.read_bytes().replace(b"DigitsCNN", b"GoneAwayX")  # same length: the zip stays valid
    patched = tmp_path / "patched.pt"
    patched.write_bytes(data)
    with pytest.raises(StudioError, match="GoneAwayX"):
        load_model(str(patched), trust=True)


def test_onnx_constant_node_weights_are_counted(tmp_path):
    expected = constant_node_onnx(tmp_path / "c.onnx")
    model = load_model(str(tmp_path / "c.onnx"))
    layers = {layer.name: layer for layer in layers_of(model)}
    assert count(model) == expected
    assert set(layers) == {"fc1", "fc1_bias", "fc2"}  # the int64 shape constant is no weight


def test_onnx_subgraph_weights_are_counted(tmp_path):
    expected = if_subgraph_onnx(tmp_path / "if.onnx")
    model = load_model(str(tmp_path / "if.onnx"))
    names = {layer.name for layer in layers_of(model)}
    assert count(model) == expected
    assert {"branch/then_branch/scale", "branch/else_branch/shift"} <= names


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


ONNX_DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"


@pytest.mark.parametrize("case", ["test_Conv2d_groups", "test_BatchNorm2d_eval", "test_Embedding", "test_PReLU_2d"])
def test_converted_onnx_models_count_their_initializers(case):
    path = ONNX_DATA / "pytorch-converted" / case / "model.onnx"
    proto = onnx.load(path)
    statistics = {n.input[i] for n in proto.graph.node if n.op_type == "BatchNormalization" for i in (3, 4)}  # buffers, as in PyTorch
    expected = sum(numpy_helper.to_array(t).size for t in proto.graph.initializer
                   if t.data_type == onnx.TensorProto.FLOAT and t.name not in statistics)
    assert count(load_model(str(path))) == expected > 0


@pytest.mark.parametrize("name", ["light_resnet50", "light_inception_v2", "light_densenet121"])
def test_converted_onnx_zoo_graphs_load(name):
    from studio.core.inspect.model_graph import graph_of

    model = load_model(str(ONNX_DATA / "light" / f"{name}.onnx"))
    graph = graph_of(model)
    assert len(graph.nodes) > 300 and graph.edges
    assert model.inputs[0].shape == (1, 3, 224, 224)


def test_tied_weights_count_once():
    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)
            self.head = torch.nn.Linear(4, 10, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, x):
            return self.head(self.embed(x))

    from studio.core.formats.model import Model

    assert count(Model("tied", Format.PICKLED_MODULE, module=Tied())) == 40


@pytest.mark.parametrize("text, expected", [("1,3,224,224", [(1, 3, 224, 224)]), ("1,4;1,2", [(1, 4), (1, 2)])])
def test_input_shape_parsing(text, expected):
    assert parse_input_shape(text) == expected


@pytest.mark.parametrize("text", ["a,b", "0,3", "1,,2", ";"])
def test_bad_input_shape_is_one_clear_error(text):
    with pytest.raises(StudioError, match="input-shape"):
        parse_input_shape(text)


def test_sample_data_name_is_not_a_model():
    with pytest.raises(StudioError, match="data set"):
        load_model("sample:digits")
    with pytest.raises(StudioError, match="no such sample"):
        load_model("sample:resnet")


def test_nan_weights_still_load(tmp_path):
    sd = build_sample("digits-cnn").state_dict()
    sd["fc2.weight"][0, 0] = float("nan")
    torch.save(sd, tmp_path / "nan.pt")
    stats = model_stats(layers_of(load_model(str(tmp_path / "nan.pt"))))
    assert stats.nonfinite == 1 and np.isfinite(stats.max) and stats.parameters == 38_282


def test_an_input_shape_of_a_single_value_and_torchscript_number_types(tmp_path):
    class Scaled(torch.nn.Module):
        def forward(self, x, sr: int):
            return x * sr

    path = tmp_path / "scaled.pt"
    torch.jit.save(torch.jit.script(Scaled()), path)
    model = load_model(str(path), input_shape="1,4;()")
    assert [(s.shape, s.dtype) for s in model.inputs] == [((1, 4), "float32"), ((), "int64")]
    with pytest.raises(StudioError, match="positive sizes"):
        load_model(str(path), input_shape="()")
