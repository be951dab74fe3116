"""An ONNX model made trainable: converted, checked against ONNX Runtime, then fine-tuned."""

from dataclasses import replace

import numpy as np
import onnx
import pytest

from studio.core.compress.conversion import trainable
from studio.core.compress.finetune import finetune
from studio.core.compress.prune import magnitude
from studio.core.errors import StudioError
from studio.core.evaluate.metrics import evaluate
from studio.core.formats.model import Format
from studio.core.formats.onnx_to_torch import onnx_to_torch
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import run_to_end


def test_a_faithful_conversion_says_how_faithful(cnn, digits):
    model = trainable(cnn, digits)
    assert model.format is Format.CONVERTED
    assert "converted to PyTorch by onnx2torch: max difference" in model.notes[-1] and "100% agreement" in model.notes[-1]


def test_a_conversion_that_computes_something_else_is_refused(cnn, digits, monkeypatch):
    import studio.core.compress.conversion as conversion

    def wrong(model):
        converted = onnx_to_torch(model)
        for p in converted.module.parameters():
            p.data.mul_(-1)
        return converted

    monkeypatch.setattr(conversion, "onnx_to_torch", wrong)
    with pytest.raises(StudioError, match="does not compute the same"):
        trainable(cnn, digits)


def test_an_onnx_model_pruned_then_fine_tuned_recovers_and_exports_as_its_own_graph(cnn, digits):
    pruned = magnitude(cnn, 0.9)
    before = evaluate(pruned, digits)["accuracy"]
    tuned = run_to_end(finetune(pruned, digits, epochs=2, lr=1e-3))
    assert tuned.format is Format.CONVERTED
    after = evaluate(tuned, digits)["accuracy"]
    assert after > before + 0.02
    back = to_onnx(tuned)
    weights = [np.frombuffer(i.raw_data, np.float32) for i in back.onnx.graph.initializer if len(i.dims) > 1]
    assert sum((w == 0).sum() for w in weights) / sum(w.size for w in weights) > 0.85  # pruned weights stayed zero
    assert [n.op_type for n in back.onnx.graph.node] == [n.op_type for n in cnn.onnx.graph.node]
    assert abs(evaluate(back, digits)["accuracy"] - after) < 0.01


def test_without_onnx2torch_fine_tuning_an_onnx_model_says_how_to_install_it(cnn, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx2torch" else real(name, *a))
    allowed = replace(cnn).capabilities()["finetune"]
    assert not allowed.allowed and "pip install --no-deps onnx2torch" in allowed.reason


def test_a_file_that_fixes_its_batch_is_refused_before_converting(cnn, digits):
    fixed = onnx.ModelProto()
    fixed.CopyFrom(cnn.onnx)
    fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    model = replace(cnn, onnx=fixed, inputs=[replace(cnn.inputs[0], shape=(1, *cnn.inputs[0].shape[1:]))])
    with pytest.raises(StudioError, match="fixes the batch to 1"):
        trainable(model, digits)
