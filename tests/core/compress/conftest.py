"""The float ONNX model and the data the quantization tests share: made once per test module."""

import pytest

from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx


@pytest.fixture(scope="module")
def cnn():
    return to_onnx(load_model("sample:digits-cnn"))


@pytest.fixture(scope="module")
def digits():
    return load_data("sample:digits")
