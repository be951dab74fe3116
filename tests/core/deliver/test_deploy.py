"""A version exported as a deployable ONNX file: measured in ONNX Runtime, checked against its source,
and described by a model card beside it."""

import hashlib
import json
import os
from pathlib import Path

import onnx
import pytest
import torch

from studio.core.deliver import deploy
from studio.core.deliver.deploy import card_markdown, card_paths, export_version, parity, speedup
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.formats.model import Format
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


def test_failed_measurement_writes_nothing(tmp_path, digits, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old model")

    def broken(*args, **kwargs):
        raise RuntimeError("runtime crashed")

    monkeypatch.setattr(deploy, "latency", broken)
    with pytest.raises(RuntimeError):
        run_to_end(export_version(to_onnx(load_model("sample:digits-cnn")), path, digits))
    assert path.read_bytes() == b"old model" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_without_data_parity_uses_random_inputs(tmp_path):
    out = run_to_end(export_version(load_model("sample:digits-cnn"), tmp_path / "m.onnx", None))
    assert out["metrics"]["parity"]["max_abs_diff"] <= 1e-4 and "random" in out["metrics"]["parity"]["inputs"]
    assert "accuracy" not in out["metrics"]
    assert json.loads((tmp_path / "m.card.json").read_text())["data"] is None



def test_parity_compares_the_source_in_pytorch_with_the_file_in_ort():
    lenet = load_model("sample:lenet-5")
    p = parity(lenet, to_onnx(lenet), None)
    assert p["max_abs_diff"] <= 1e-5 and p["top1_agreement"] == 1.0
    assert p["reference"] == "torch cpu" and p["runtime"].startswith("onnxruntime") and "8 random examples" in p["inputs"]
    with torch.no_grad():
        broken = load_model("sample:lenet-5")
        broken.module.fc2.bias.add_(100.0 * torch.arange(10))  # the last class always wins
    assert parity(broken, to_onnx(lenet), None)["max_abs_diff"] > 100


@pytest.mark.parametrize("source, exported, expected", [
    ([{"latency_ms": 4.0}, {"latency_ms": 40.0}], [{"latency_ms": 2.0}, {"latency_ms": 10.0}], 4.0),  # the largest batch
    ([{"latency_ms": 4.0}, {"skipped": "no data"}], [{"latency_ms": 8.0}, {"latency_ms": 10.0}], 0.5),  # the largest both timed
    ([{"skipped": "no data"}], [{"latency_ms": 1.0}], None),
    ([{"latency_ms": 1.0}], [{"latency_ms": 0.0}], None),
    ([], [], None),
])
def test_speedup_is_measured_at_the_largest_batch_both_timed(source, exported, expected):
    assert speedup(source, exported) == expected


def test_the_card_sits_beside_the_file():
    assert card_paths(Path("out/model.v2.onnx")) == (Path("out/model.v2.card.json"), Path("out/model.v2.card.md"))


def test_the_card_in_markdown_says_how_weights_are_stored_and_lists_the_notes(exported):
    path, _ = exported
    card = {**json.loads(path.with_name("cnn.card.json").read_text()), "notes": []}
    assert "| storage |" not in card_markdown(card) and "Notes:" not in card_markdown(card)
    card.update(sparse_initializers=3, notes=["first note", "second note"])
    md = card_markdown(card)
    assert "| storage | 3 weights stored sparse;" in md
    assert md.endswith("Notes:\n- first note\n- second note\n")
