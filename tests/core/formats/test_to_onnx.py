"""PyTorch → ONNX: a file onnx's checker accepts, with a dynamic batch, that ONNX Runtime runs as PyTorch does."""

import logging

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.evaluate.runtime import ort_session, predict
from studio.core.formats import to_onnx as to_onnx_module
from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.formats.to_onnx import check, quiet, to_onnx


@pytest.fixture(scope="module")
def digits():
    return load_data("sample:digits")


@pytest.fixture(scope="module")
def lenet():
    return load_model("sample:lenet-5")


@pytest.fixture(scope="module")
def exported(lenet):
    return to_onnx(lenet)


class RowEncoder(nn.Module):
    """A transformer layer over the rows of an image: traced at batch 1, the exporter bakes the batch
    size into the attention's reshapes (torch.export specialises axes of size 1)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.encoder(x.reshape(-1, 8, 8)).mean(1))


def test_the_batch_axis_stays_dynamic(digits):
    model = Model("batch-reshape", Format.PICKLED_MODULE, [TensorSpec("input", ("batch", 1, 8, 8))],
                  [TensorSpec("out", ("batch", 3))], module=RowEncoder().eval())
    x = digits.test().x["input"][:300]
    np.testing.assert_allclose(predict(to_onnx(model), {"input": x}), predict(model, {"input": x}), atol=1e-5)


def test_the_file_passes_the_checker_and_runs_in_ort_as_in_pytorch(lenet, exported):
    assert exported.format is Format.ONNX and exported.module is None and exported.program is None
    onnx.checker.check_model(exported.onnx, full_check=True)
    assert [(s.name, s.shape) for s in exported.inputs] == [("input", ("batch", 1, 28, 28))]
    x = np.random.default_rng(0).random((3, 1, 28, 28), np.float32)  # not the batch of 2 it was traced on
    (out,) = ort_session(exported).run(None, {"input": x})
    with torch.no_grad():
        expected = lenet.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert lenet.module is not None and lenet.format is Format.SAMPLE  # the version it came from is untouched


def test_the_file_carries_no_exporter_debug_info(exported):
    assert not any(n.metadata_props or n.doc_string for n in exported.onnx.graph.node)


def test_an_onnx_model_is_itself_and_weights_alone_cannot_be_exported(exported):
    assert to_onnx(exported) is exported
    weights = Model("w.pt", Format.STATE_DICT, state_dict={"fc.weight": torch.ones(2, 2)})
    with pytest.raises(StudioError, match="no architecture to export"):
        to_onnx(weights)


def test_the_opset_asked_for_is_the_opset_written(lenet):
    proto = to_onnx(lenet, opset=18).onnx
    assert next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 18


def only_torchscript(monkeypatch) -> None:
    """The dynamo exporter fails, as it does on data-dependent code."""
    real = to_onnx_module._export

    def dynamo_fails(model, args, path, opset, in_names, out_names, axes, dynamo):
        if dynamo:
            raise RuntimeError("Unsupported: data-dependent control flow\nlong traceback")
        real(model, args, path, opset, in_names, out_names, axes, dynamo)

    monkeypatch.setattr(to_onnx_module, "_export", dynamo_fails)


def test_when_the_dynamo_exporter_fails_the_torchscript_one_is_used(lenet, monkeypatch):
    only_torchscript(monkeypatch)
    exported = to_onnx(lenet)
    onnx.checker.check_model(exported.onnx)
    assert exported.notes[-1] == "exported after a fallback: dynamo exporter: Unsupported: data-dependent control flow"
    x = np.zeros((4, 1, 28, 28), np.float32)
    assert ort_session(exported).run(None, {"input": x})[0].shape == (4, 10)


def test_when_both_exporters_fail_the_error_names_both_in_one_line(lenet, monkeypatch):
    def fails(model, args, path, opset, in_names, out_names, axes, dynamo):
        raise ValueError(f"{'dynamo' if dynamo else 'legacy'} says no\ndetails")

    monkeypatch.setattr(to_onnx_module, "_export", fails)
    with pytest.raises(StudioError) as error:
        to_onnx(lenet)
    message = str(error.value)
    assert "\n" not in message and message.startswith("sample:lenet-5: ONNX export failed")
    assert "dynamo exporter: dynamo says no" in message and "TorchScript exporter: legacy says no" in message


def test_a_graph_that_fails_validation_is_refused():
    graph = helper.make_graph([helper.make_node("Relu", ["missing"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    with pytest.raises(StudioError, match="fails validation"):
        check(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "m")


def test_quiet_silences_printing_and_restores_the_loggers(capsys):
    logger = logging.getLogger("studio-test-exporter")
    logger.setLevel(logging.INFO)
    with quiet("studio-test-exporter"):
        print("progress meant for script users")
        assert logger.level == logging.CRITICAL
    assert logger.level == logging.INFO and capsys.readouterr().out == ""


class Scaled(nn.Module):
    def forward(self, x, sr: int):
        return x * sr


def test_an_input_of_one_number_becomes_a_constant_of_the_graph():
    model = Model("scaled", Format.PICKLED_MODULE, [TensorSpec("x", ("batch", 4)), TensorSpec("sr", (), "int64")],
                  [TensorSpec("y", ("batch", 4))], module=Scaled())
    exported = to_onnx(model, example={"x": np.ones((2, 4), np.float32), "sr": np.array(3)})
    assert [s.name for s in exported.inputs] == ["x"]
    assert [i.name for i in exported.onnx.graph.input] == ["x"]
    np.testing.assert_array_equal(predict(exported, {"x": np.ones((5, 4), np.float32)}), np.full((5, 4), 3.0))


class Complex(nn.Module):
    def forward(self, x):
        return torch.view_as_complex(x.reshape(x.shape[0], -1, 2)).abs()  # no TorchScript-exporter operator


def test_a_torchscript_file_the_torchscript_exporter_refuses_goes_through_torch_export():
    traced = torch.jit.trace(Complex(), torch.ones(2, 4))
    model = Model("complex", Format.TORCHSCRIPT, [TensorSpec("x", ("batch", 4))], [TensorSpec("y", ("batch", 2))], module=traced)
    exported = to_onnx(model, example={"x": np.ones((2, 4), np.float32)})
    x = np.random.default_rng(0).random((3, 4), np.float32)
    np.testing.assert_allclose(predict(exported, {"x": x}), predict(model, {"x": x}), rtol=1e-5)
    # opset 17's ReduceL2 cannot take what the dynamo exporter writes at 18: it stays 18, and says so
    assert [o.version for o in exported.onnx.opset_import if o.domain == ""] == [18]
    assert any(n.startswith("written at opset 18") for n in exported.notes)


class StatefulComplex(nn.Module):
    """State set inside an `if` (as Silero VAD's script keeps its LSTM state): torch.export cannot take it."""

    def __init__(self):
        super().__init__()
        self.state = torch.zeros(1)

    def forward(self, x):
        if bool(x.sum() > 0):
            self.state = x.sum().reshape(1)
        return torch.view_as_complex(x.reshape(x.shape[0], -1, 2)).abs() + self.state


def test_a_failed_export_prints_nothing_only_its_one_line(capfd):
    scripted = torch.jit.script(StatefulComplex())
    model = Model("complex", Format.TORCHSCRIPT, [TensorSpec("x", ("batch", 4))], [TensorSpec("y", ("batch", 2))], module=scripted)
    with pytest.raises(StudioError, match="ONNX export failed") as error:
        to_onnx(model, example={"x": np.ones((2, 4), np.float32)})
    assert "\n" not in str(error.value)
    out, err = capfd.readouterr()
    assert "Torch IR graph" not in out + err and len(out) < 200, out[:500]


class ScriptedWithContext(nn.Module):
    """As Silero VAD's script: `not` of a number (`not bool(len(context))` there), a branch on a number
    input, no output shapes declared."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x, sr: int):
        y = self.fc(x)
        if not bool(x.size(0) - 2):  # the batch is dynamic: computed in the graph, a number, then `not`
            y = y + 1
        if sr == 16000:
            y = y * 2
        return torch.sigmoid(y)


def test_the_torchscript_exporter_takes_pythons_not_of_a_number_and_types_what_it_left_untyped(monkeypatch):
    real = to_onnx_module._export

    def dynamo_fails(*args):
        if args[-1]:
            raise RuntimeError("TS2EPConverter failed for node prim::If")  # as for Silero VAD's script
        real(*args)

    monkeypatch.setattr(to_onnx_module, "_export", dynamo_fails)
    torch.manual_seed(0)
    model = Model("scripted", Format.TORCHSCRIPT, [TensorSpec("x", ("batch", 4)), TensorSpec("sr", (), "int64")], [],
                  module=torch.jit.script(ScriptedWithContext()))
    exported = to_onnx(model, example={"x": np.ones((2, 4), np.float32), "sr": np.array(16000)})
    assert any("dynamo exporter" in n for n in exported.notes)  # the TorchScript exporter wrote it
    output = exported.onnx.graph.output[0].type.tensor_type
    assert output.elem_type == TensorProto.FLOAT and len(output.shape.dim) == 2  # typed from its output on the example
    x = np.random.default_rng(0).random((3, 4), np.float32)
    np.testing.assert_allclose(predict(exported, {"x": x}), predict(model, {"x": x, "sr": np.array(16000)}), rtol=1e-5)


class Stream(nn.Module):
    """Keeps a running state between calls, with reset_states() as Silero VAD has it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)
        self.seen = torch.zeros(1)

    @torch.jit.export
    def reset_states(self):
        self.seen = torch.zeros(1)

    def forward(self, x):
        y = self.fc(x) + self.seen
        self.seen = self.seen + 1
        return y


def test_a_scripted_stream_is_exported_as_a_fresh_one_whatever_ran_before(monkeypatch):
    torch.manual_seed(0)
    module = torch.jit.script(Stream())
    model = Model("stream", Format.TORCHSCRIPT, [TensorSpec("x", ("batch", 4))], [TensorSpec("y", ("batch", 1))], module=module)
    x = np.random.default_rng(0).random((3, 4), np.float32)
    module(torch.from_numpy(x))
    module(torch.from_numpy(x))  # its state moved on
    exported = to_onnx(model, example={"x": x})
    assert float(module.seen) == 2.0  # the module itself is left as it was
    module.reset_states()
    np.testing.assert_allclose(predict(exported, {"x": x}), module(torch.from_numpy(x)).detach().numpy(), rtol=1e-5)


class FixesItsBatch(nn.Module):
    def forward(self, x):
        return x.reshape(int(x.shape[0]), 12).sum(1, keepdim=True)  # int(): a constant to a tracer


def test_a_traced_export_that_fixes_the_batch_is_refused_in_one_line(monkeypatch):
    """The TorchScript exporter traces sizes read as numbers as constants: such a file runs only at the
    example's batch, so it is run once at another one before it is accepted."""
    only_torchscript(monkeypatch)
    model = Model("fixed", Format.PICKLED_MODULE, [TensorSpec("x", ("batch", 3, 4))], [TensorSpec("y", ("batch", 1))], module=FixesItsBatch())
    with pytest.raises(StudioError, match="TorchScript exporter: the traced export fixes the batch to 2: it fails at 4 "):
        to_onnx(model, example={"x": np.ones((2, 3, 4), np.float32)})
    model = Model("sums", Format.PICKLED_MODULE, [TensorSpec("x", ("batch", 3, 4))], [TensorSpec("y", ("batch", 1))], module=Sums())
    exported = to_onnx(model, example={"x": np.ones((2, 3, 4), np.float32)})
    assert predict(exported, {"x": np.ones((5, 3, 4), np.float32)}).shape == (5, 1)


class Sums(nn.Module):
    def forward(self, x):
        return x.flatten(1).sum(1, keepdim=True)
