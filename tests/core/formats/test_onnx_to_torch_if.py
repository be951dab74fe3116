"""onnx_to_torch_if: an ONNX If converts to a module that runs the branch its condition picks (as ONNX
Runtime does, for every input), trains only that branch, and writes its weights back into that branch."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import rate_branches_onnx

from studio.core.evaluate.runtime import predict_outputs
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import free_names
from studio.core.formats.onnx_to_torch import back_to_onnx, onnx_to_torch
from studio.core.formats.onnx_to_torch_if import If


def _feeds(sr: int) -> dict:
    rng = np.random.default_rng(1)
    return {"x": rng.normal(size=(5, 4)).astype(np.float32), "sr": np.array(sr, np.int64),
            "state": rng.normal(size=(5, 2, 3)).astype(np.float32)}  # stored batch-first, as the data keeps it


def test_both_branches_convert_and_each_runs_when_its_condition_holds(tmp_path):
    rate_branches_onnx(tmp_path / "rates.onnx")
    model = load_model(str(tmp_path / "rates.onnx"))
    converted = onnx_to_torch(model)
    assert isinstance(converted.module.by_rate, If)
    for sr in (16000, 8000):
        np.testing.assert_allclose(predict_outputs(converted, _feeds(sr))[0], predict_outputs(model, _feeds(sr))[0], atol=1e-5)
    assert [s.shape for s in converted.inputs] == [("N", 4), (), ("N", 2, 3)]  # the state's batch first, as training feeds it


def test_the_trained_branch_goes_back_into_its_own_weights_and_the_file_keeps_its_inputs(tmp_path):
    rate_branches_onnx(tmp_path / "rates.onnx")
    model = load_model(str(tmp_path / "rates.onnx"))
    converted = onnx_to_torch(model)
    with torch.no_grad():
        for name, p in converted.module.named_parameters():
            if ".else_branch." in name:  # the 8 kHz branch, whose weights are a Constant inside it
                p.mul_(2.0)
    back = back_to_onnx(converted)
    onnx.checker.check_model(back.onnx)
    assert back.inputs == model.inputs  # the state's batch on axis 1 again
    for sr in (16000, 8000):
        np.testing.assert_allclose(predict_outputs(back, _feeds(sr))[0], predict_outputs(converted, _feeds(sr))[0], atol=1e-5)
    np.testing.assert_allclose(predict_outputs(back, _feeds(16000))[0], predict_outputs(model, _feeds(16000))[0], atol=1e-5)
    assert not np.allclose(predict_outputs(back, _feeds(8000))[0], predict_outputs(model, _feeds(8000))[0], atol=1e-3)


def test_a_branch_reads_what_it_does_not_make_itself():
    inner = helper.make_graph([helper.make_node("Add", ["a", "made"], ["out"])], "inner", [],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    outer = helper.make_graph([helper.make_node("Neg", ["x"], ["made"]),
                               helper.make_node("If", ["c"], ["o"], then_branch=inner, else_branch=inner)], "outer", [],
                              [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    assert free_names(outer) == {"x", "a", "c"}


@pytest.mark.parametrize("batch", [1, 3])
def test_a_condition_on_the_batch_size_is_followed_at_every_batch(tmp_path, batch):
    """Silero's nested Ifs squeeze a batch of one: the module decides per call, as ONNX Runtime does."""
    squeeze = helper.make_graph([helper.make_node("Squeeze", ["x", "zero"], ["s"]), helper.make_node("Unsqueeze", ["s", "zero"], ["t"]),
                                 helper.make_node("Neg", ["t"], ["one_out"])], "one", [],
                                [helper.make_tensor_value_info("one_out", TensorProto.FLOAT, None)])
    same = helper.make_graph([helper.make_node("Identity", ["x"], ["many_out"])], "many", [],
                             [helper.make_tensor_value_info("many_out", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Shape", ["x"], ["shape"]), helper.make_node("Gather", ["shape", "zero"], ["n"]),
             helper.make_node("Equal", ["n", "one"], ["single"]),
             helper.make_node("If", ["single"], ["y"], then_branch=squeeze, else_branch=same)]
    graph = helper.make_graph(nodes, "batch", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                              initializer=[numpy_helper.from_array(np.array([0], np.int64), "zero"),
                                           numpy_helper.from_array(np.array([1], np.int64), "one")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "batch.onnx")
    model = load_model(str(tmp_path / "batch.onnx"))
    x = {"x": np.arange(batch * 3, dtype=np.float32).reshape(batch, 3)}
    expected = -x["x"] if batch == 1 else x["x"]
    np.testing.assert_array_equal(predict_outputs(onnx_to_torch(model), x, batch=batch)[0], expected)


def test_channels_are_refused_up_front_before_and_after_conversion(tmp_path):
    rate_branches_onnx(tmp_path / "rates.onnx")
    model = load_model(str(tmp_path / "rates.onnx"))
    for version in (model, onnx_to_torch(model)):
        caps = version.capabilities()
        assert caps["finetune"].allowed and not caps["prune_structured"].allowed
        assert "If, Loop or Scan" in caps["prune_structured"].reason
