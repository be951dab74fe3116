import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from onnx_cases import constant_node_onnx, if_subgraph_onnx

from studio.core.errors import StudioError
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


def test_torchscript_needs_an_input_shape_and_takes_one(files):
    model = load_model(str(files["torchscript"]))
    assert not model.input_shapes_known
    assert any("--input-shape" in n for n in model.notes)
    shaped = load_model(str(files["torchscript"]), input_shape="4,1,28,28")
    assert shaped.inputs[0].shape == (4, 1, 28, 28)
    assert shaped.outputs[0].shape == (4, 10)


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
