import numpy as np
import torch

from studio.core.evaluate.runtime import BATCH, BATCH_BYTES, batch_for, predict
from studio.core.formats.load import load_model
from studio.core.formats.samples import build_sample, sample_input


def test_an_onnx_file_with_a_fixed_batch_size_runs_on_any_number_of_examples(tmp_path):
    module = build_sample("digits-cnn")
    for batch in (1, 8):
        path = tmp_path / f"fixed{batch}.onnx"
        torch.onnx.export(module, (sample_input("digits-cnn", batch),), path, dynamo=False)
        model = load_model(str(path))
        x = np.random.default_rng(0).random((21, 1, 8, 8), dtype=np.float32)
        out = predict(model, {model.inputs[0].name: x})
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        assert out.shape == (21, 10) and np.allclose(out, expected, atol=1e-4)



def test_data_onnx_runtime_refuses_is_a_studio_error_that_names_every_axis(tmp_path):
    """ORT's own first line ends in "…for the following indices": the window showed that, cut."""
    import onnx
    import pytest
    from onnx import TensorProto, helper

    from studio.core.errors import StudioError

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    with pytest.raises(StudioError) as caught:
        predict(load_model(str(tmp_path / "m.onnx")), {"x": np.zeros((2, 1, 5), np.float32)})
    assert caught.value.problem == ("the data does not fit the model: input x: axis 1 is 3 in the model, 1 in the data; "
                                    "axis 2 is 4 in the model, 5 in the data")


def test_large_inputs_run_in_small_batches_and_small_ones_in_large():
    scenes = np.zeros((320, 3, 256, 256), np.float32)  # 768 KiB an example
    assert batch_for({"x": scenes}) == BATCH_BYTES // scenes[0].nbytes == 5
    digits = np.zeros((5000, 1, 28, 28), np.float32)
    assert batch_for({"x": digits, "rate": np.array(16000)}) == BATCH  # a constant is no example
    assert batch_for({"x": np.zeros((2, 64, 1024, 1024), np.float32)}) == 1


def test_a_scalar_input_reaches_a_converted_module_as_a_tensor_and_a_script_as_a_number(tmp_path):
    """Silero VAD's sample rate: its ONNX graph reshapes it (a tensor); its TorchScript takes `sr: int`."""
    import copy

    from onnx_cases import constant_node_onnx

    from studio.core.evaluate.runtime import takes_numbers
    from studio.core.formats.onnx_to_torch import onnx_to_torch

    constant_node_onnx(tmp_path / "m.onnx")
    converted = onnx_to_torch(load_model(str(tmp_path / "m.onnx"))).module
    assert not takes_numbers(converted) and not takes_numbers(copy.deepcopy(converted))  # training copies it
    assert takes_numbers(torch.jit.script(torch.nn.Linear(2, 2)))
