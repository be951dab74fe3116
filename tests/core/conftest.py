"""Model files of every format, made once per session from the bundled samples."""

from __future__ import annotations

import pytest
import torch

from studio.core.formats.samples import build_sample, sample_input


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    model = build_sample("lenet-5")
    x = sample_input("lenet-5", 2)
    paths = {
        "torchscript": d / "scripted.pt",
        "pt2": d / "program.pt2",
        "pickled": d / "whole.pt",
        "state_dict": d / "weights.pt",
        "onnx": d / "legacy.onnx",
        "onnx_dynamo": d / "dynamo.onnx",
        "safetensors": d / "weights.safetensors",
    }
    torch.jit.save(torch.jit.script(model), paths["torchscript"])
    torch.export.save(torch.export.export(model, (x,)), paths["pt2"])
    torch.save(model, paths["pickled"])
    torch.save(model.state_dict(), paths["state_dict"])
    torch.onnx.export(model, (x,), paths["onnx"], dynamo=False)
    torch.onnx.export(model, (x,), paths["onnx_dynamo"], dynamo=True, verbose=False)
    from safetensors.torch import save_file

    save_file(model.state_dict(), paths["safetensors"])
    return paths
