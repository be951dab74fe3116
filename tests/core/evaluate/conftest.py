"""The digits CNN's ONNX export and the digits data, which the profile tests share: made once per test module."""

import pytest

from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx


@pytest.fixture(scope="module")
def digits():
    data = load_data("sample:digits")
    source = load_model("sample:digits-cnn")
    return to_onnx(source, example=data.example_for(source.inputs)), data
