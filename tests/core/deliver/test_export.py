import hashlib
import json
import os

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from studio.core.compress.prune import magnitude
from studio.core.deliver import deploy, export
from studio.core.deliver.deploy import export_version
from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.evaluate.runtime import predict
from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import run_to_end

STEPS = [{"prune": {"sparsity": 0.5}}]


@pytest.fixture(scope="module")
def digits():
    return load_data("sample:digits")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, digits):
    """One export of sample:digits-cnn with everything the card reports."""
    path = tmp_path_factory.mktemp("export") / "cnn.onnx"
    model = load_model("sample:digits-cnn")
    out = run_to_end(export_version(model, path, digits, with_zip=True, steps=STEPS, original=model))
    return path, out


def test_fp32_export_matches_pytorch(exported):
    path, out = exported
    parity = out["metrics"]["parity"]
    assert parity["max_abs_diff"] <= 1e-4 and parity["top1_agreement"] == 1.0
    assert parity["reference"] == "torch cpu" and parity["runtime"].startswith("onnxruntime")
    assert "test split of sample:digits" in parity["inputs"]
    assert load_model(str(path)).format is Format.ONNX


def test_model_card_states_what_the_file_does(exported):
    path, out = exported
    card = json.loads(path.with_name("cnn.card.json").read_text())
    blob = path.read_bytes()
    assert card["file"] == "cnn.onnx" and card["source"] == "sample:digits-cnn" and card["steps"] == STEPS
    assert card["size_bytes"] == len(blob) == out["size_bytes"]
    assert card["sha256"] == hashlib.sha256(blob).hexdigest()
    assert 0 < card["zip_bytes"] < card["size_bytes"]
    assert card["data"] == "sample:digits" and card["opset"] == 17
    m = card["metrics"]
    assert 0.95 < m["accuracy"] <= 1 and m["agreement"] == 1.0 and m["cosine"] > 0.99999  # fidelity to the original
    assert [(lat["batch"], lat["threads"]) for lat in m["latency"]] == [(1, os.cpu_count()), (256, os.cpu_count())]
    assert all(lat["latency_ms"] > 0 and "ExecutionProvider" in lat["runtime"] for lat in m["latency"])
    assert card["runtime"] == "onnxruntime CPUExecutionProvider"
    assert {"studio", "torch", "onnx", "onnxruntime"} <= set(card["versions"])
    assert card["versions"]["onnx"] == onnx.__version__ and card["versions"]["torch"] == torch.__version__
    md = path.with_name("cnn.card.md").read_text()
    for text in ("# cnn", "parity with the source", "latency, batch 256", "prune {'sparsity': 0.5}", f"{len(blob):,} bytes"):
        assert text in md
    assert out["card"] == str(path.with_name("cnn.card.json"))


def test_exported_files_carry_no_exporter_debug_info(exported):
    proto = onnx.load(exported[0])
    assert not any(n.metadata_props or n.doc_string for n in proto.graph.node)


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


def test_failed_write_leaves_existing_files_untouched(tmp_path, digits, monkeypatch):
    path = tmp_path / "m.onnx"
    old = {path: b"old model", path.with_name("m.card.json"): b"old card", path.with_name("m.onnx.zip"): b"old zip"}
    for p, data in old.items():
        p.write_bytes(data)
    real_replace = os.replace
    calls = []

    def fail_after_staging(src, dst):
        calls.append(src)
        assert os.path.getsize(src) > 0  # the new file was written beside the target
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "replace", fail_after_staging)
    with pytest.raises(StudioError, match="cannot write the export \\(No space left on device\\)"):
        run_to_end(export_version(load_model("sample:digits-cnn"), path, digits, with_zip=True))
    monkeypatch.setattr(export.os, "replace", real_replace)
    assert calls
    assert {p: p.read_bytes() for p in old} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in old)  # no temporary file left


def test_failed_measurement_writes_nothing(tmp_path, digits, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old model")

    def broken(*args, **kwargs):
        raise RuntimeError("runtime crashed")

    monkeypatch.setattr(deploy, "latency", broken)
    with pytest.raises(RuntimeError):
        run_to_end(export_version(to_onnx(load_model("sample:digits-cnn")), path, digits))
    assert path.read_bytes() == b"old model" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_pruned_weights_stored_sparse_make_a_smaller_file_ort_runs(tmp_path):
    data = load_data("sample:mnist5k")
    pruned = to_onnx(magnitude(load_model("sample:lenet-300-100"), 0.9))
    dense = run_to_end(export_version(pruned, tmp_path / "dense.onnx", data))
    sparse = run_to_end(export_version(pruned, tmp_path / "sparse.onnx", data, sparse=True))
    assert sparse["size_bytes"] < 0.4 * dense["size_bytes"]
    assert sparse["metrics"]["parity"]["max_abs_diff"] <= 1e-5
    assert sparse["metrics"]["accuracy"] == dense["metrics"]["accuracy"]
    proto = onnx.load(tmp_path / "sparse.onnx")
    assert {s.values.name for s in proto.graph.sparse_initializer} == {"fc1.weight", "fc2.weight"}
    assert json.loads((tmp_path / "sparse.card.json").read_text())["sparse_initializers"] == 2
    assert load_model(str(tmp_path / "sparse.onnx")).format is Format.ONNX


def test_without_data_parity_uses_random_inputs(tmp_path):
    out = run_to_end(export_version(load_model("sample:digits-cnn"), tmp_path / "m.onnx", None))
    assert out["metrics"]["parity"]["max_abs_diff"] <= 1e-4 and "random" in out["metrics"]["parity"]["inputs"]
    assert "accuracy" not in out["metrics"]
    assert json.loads((tmp_path / "m.card.json").read_text())["data"] is None
