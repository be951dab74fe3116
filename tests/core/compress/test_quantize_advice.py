"""The quantization mode suggested for a model, from its layers alone."""

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from onnx_cases import tiny_conv_net
from torch import nn

from studio.core.compress.quantize_advice import suggest_mode
from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model, TensorSpec


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


def module_model(module: nn.Module, dtype: str = "float32") -> Model:
    return Model("net", Format.PICKLED_MODULE, inputs=[TensorSpec("x", ("batch", 4), dtype)], module=module)


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(4, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


class Encoder(nn.Module):
    """Conv front end, attention body: more matrix products than convolutions."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3)
        self.attention = nn.MultiheadAttention(8, 2)
        self.fc1, self.fc2 = nn.Linear(8, 8), nn.Linear(8, 3)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.fc = nn.Embedding(100, 8), nn.Linear(8, 3)

    def forward(self, ids):
        return self.fc(self.embed(ids))


def test_pytorch_modules_are_judged_by_their_layer_classes():
    assert suggest_mode(module_model(Recurrent())).mode == "dynamic"
    assert "LSTM" in suggest_mode(module_model(Recurrent())).reason
    encoder = suggest_mode(module_model(Encoder()))
    assert encoder.mode == "dynamic" and "transformer" in encoder.reason
    conv = suggest_mode(module_model(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))))
    assert conv.mode == "static"
    mlp = suggest_mode(module_model(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))))
    assert mlp.mode == "dynamic" and "matrix products" in mlp.reason
    tokens = suggest_mode(module_model(Tagger(), "int64"))  # integer inputs: token ids
    assert tokens.mode == "dynamic" and "integer token inputs" in tokens.reason
    assert suggest_mode(module_model(nn.Sequential(nn.ReLU()))).mode is None


def test_a_scripted_recurrent_net_is_recognised_by_its_original_class_names():
    scripted = torch.jit.script(Recurrent().eval())
    model = Model("scripted", Format.TORCHSCRIPT, inputs=[TensorSpec("x", None)], module=scripted)
    assert suggest_mode(model).mode == "dynamic" and "LSTM" in suggest_mode(model).reason


def test_weights_without_architecture_have_nothing_to_suggest():
    weights = Model("w.pt", Format.STATE_DICT, state_dict={"fc.weight": torch.ones(3, 4)})
    assert suggest_mode(weights).mode is None


def test_an_fp16_onnx_model_is_not_quantized_again():
    w = numpy_helper.from_array(np.ones((4, 3), np.float16), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "half",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT16, ["n", 4])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT16, ["n", 3])], [w])
    advice = suggest_mode(Model("half.onnx", Format.ONNX, onnx=helper.make_model(g)))
    assert advice.mode is None and "fp16" in advice.reason
