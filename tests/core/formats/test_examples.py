"""Example inputs to trace and export a PyTorch model on: two examples of the data, else zeros."""

import numpy as np
import pytest
import torch

from studio.core.errors import StudioError
from studio.core.formats.examples import example_inputs
from studio.core.formats.model import Format, Model, TensorSpec


def model(*inputs: TensorSpec) -> Model:
    return Model("net.pt", Format.PICKLED_MODULE, inputs=list(inputs))


def test_without_data_a_batch_of_two_zeros_of_each_declared_shape_and_dtype():
    x, ids = example_inputs(model(TensorSpec("x", ("batch", 3, None)), TensorSpec("ids", (1, 5), "int64")))
    assert x.shape == (2, 3, 1) and x.dtype == torch.float32 and not x.any()  # a dynamic axis traces as 1
    assert ids.shape == (2, 5) and ids.dtype == torch.int64  # batch 2 even where the declared batch is 1


def test_with_data_the_first_two_examples_are_used_as_they_are():
    data = {"x": np.arange(24, dtype=np.float64).reshape(4, 6), "sr": np.array(16000)}
    x, sr = example_inputs(model(TensorSpec("x", ("batch", 6)), TensorSpec("sr", ())), data)
    assert torch.equal(x, torch.from_numpy(data["x"][:2])) and x.dtype == torch.float64
    assert sr == 16000 and isinstance(sr, int)  # a single value goes in as a Python number


def test_a_single_example_is_doubled_to_keep_the_batch_axis_dynamic():
    (x,) = example_inputs(model(TensorSpec("x", ("batch", 2))), {"x": np.array([[1.0, 2.0]], np.float32)})
    assert x.tolist() == [[1.0, 2.0], [1.0, 2.0]]


def test_data_missing_an_input_falls_back_to_zeros():
    x, y = example_inputs(model(TensorSpec("x", ("batch", 2)), TensorSpec("y", ("batch", 3))), {"x": np.ones((4, 2), np.float32)})
    assert x.shape == (2, 2) and y.shape == (2, 3) and not x.any()


@pytest.mark.parametrize("inputs, words", [
    ([TensorSpec("x", None)], "--input-shape"),
    ([], "--input-shape"),
    ([TensorSpec("x", ("batch", 4)), TensorSpec("sr", (), "int64")], "'sr' is a single value"),
])
def test_what_cannot_be_made_up_is_asked_for(inputs, words):
    with pytest.raises(StudioError, match=words):
        example_inputs(model(*inputs))
