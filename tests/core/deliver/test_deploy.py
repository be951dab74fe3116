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
    for text in ("# cnn", "parity with the source", "latency, batch 256", "| steps | prune (sparsity 0.5) |", f"{len(blob):,} bytes"):
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


@pytest.mark.parametrize("op, options, used", [
    ("quantize", {"mode": "static", "calibration": "minmax", "samples": 256, "per_channel": True, "bits": 4, "exclude": [],
                  "keep_float": 0, "max_drop": None, "tolerance": 0.01},
     {"mode": "static", "calibration": "minmax", "samples": 256, "per_channel": True, "keep_float": 0, "tolerance": 0.01}),
    ("quantize", {"mode": "weights-only", "calibration": "minmax", "samples": 256, "per_channel": True, "bits": 4, "keep_float": 2,
                  "max_drop": 0.01}, {"mode": "weights-only", "bits": 4, "keep_float": 2, "max_drop": 0.01}),
    ("prune", {"method": "magnitude", "scope": "global", "sparsity": 0.8, "layers": None, "exclude": [], "schedule": "one-shot",
               "epochs": 5, "lr": 0.001, "ratio": 0.5, "round_to": 8},
     {"method": "magnitude", "scope": "global", "sparsity": 0.8, "schedule": "one-shot"}),
    ("prune", {"method": "magnitude", "sparsity": 0.8, "schedule": "gradual", "epochs": 5, "lr": 0.001, "ratio": 0.5},
     {"method": "magnitude", "sparsity": 0.8, "schedule": "gradual", "epochs": 5, "lr": 0.001}),
    ("prune", {"method": "channels", "scope": "global", "sparsity": None, "exclude": ["fc2"], "schedule": "one-shot", "epochs": 5,
               "lr": 0.001, "ratio": 0.5, "round_to": 8}, {"method": "channels", "exclude": ["fc2"], "ratio": 0.5, "round_to": 8}),
    ("finetune", {"epochs": 1, "lr": 0.001}, {"epochs": 1, "lr": 0.001}),
    ("quantize", {"mode": "static", "samples": 64, "bits": None, "epochs": 2, "lr": 1e-4}, {"mode": "static", "samples": 64}),
    ("quantize", {"mode": "qat", "samples": 64, "calibration": "minmax", "bits": None, "epochs": 2, "lr": 1e-4},
     {"mode": "qat", "samples": 64, "epochs": 2, "lr": 1e-4}),
])
def test_the_card_lists_only_the_options_the_step_used(op, options, used):
    assert deploy.used_options(op, options) == used


def test_options_said_to_belong_to_a_choice_are_fields_of_that_operation():
    from studio.core.project.steps import OPS

    for op, keys in deploy.ONLY_WITH.items():
        for key, (owner, values) in keys.items():
            assert key in OPS[op].fields and owner in OPS[op].fields
            assert values is None or set(values) <= set(OPS[op].fields[owner].choices)


def test_the_card_names_the_real_source_and_the_opset_written(tmp_path, digits):
    """A quantized version of a PyTorch model is an ONNX model; its card said "sample:lenet-5 (ONNX model)"."""
    from studio.core.process.jobs import NO_CANCEL
    from studio.core.project.recipe import StepResult, run_step
    from studio.core.project.steps import OPS, Context

    original = load_model("sample:digits-cnn")
    options = OPS["quantize"].validate("quantize", {"mode": "static", "samples": 32})
    data = digits.subset(slice(0, 300))
    quantized = run_to_end(run_step(StepResult("load", {}, "original", original, {}), "quantize", options,
                                    Context(data, "cpu", NO_CANCEL, original))).model
    run_to_end(export_version(quantized, tmp_path / "q.onnx", data, opset=13, steps=[{"quantize": options}], original=original))
    card = json.loads((tmp_path / "q.card.json").read_text())
    written = next(o.version for o in onnx.load(tmp_path / "q.onnx").opset_import if o.domain == "")
    assert card["source"] == "sample:digits-cnn" and "PyTorch" in card["source_format"]
    assert card["steps"] == [{"quantize": deploy.used_options("quantize", options)}] and "bits" not in card["steps"][0]["quantize"]
    assert card["opset"] == written != 13 and card["opset_asked"] == 13
    md = (tmp_path / "q.card.md").read_text()
    assert "| source | sample:digits-cnn (" in md and "ONNX model)" not in md
    assert f"| opset | {written} (13 was asked; an ONNX version is written with the opset it has) |" in md


@pytest.mark.parametrize("here", [False, True])
def test_the_card_says_where_8_bit_int8_weights_saturate(here, monkeypatch):
    from studio.core.compress import quantize_ort
    from studio.core.compress.quantize import quantize

    data = load_data("sample:digits").subset(slice(0, 200))
    monkeypatch.setattr(quantize_ort, "saturates", lambda: False)  # made where the kernels do not saturate: 8-bit weights
    eight = run_to_end(quantize(load_model("sample:digits-cnn"), data, mode="static", samples=32, tolerance=None))
    monkeypatch.setattr(deploy, "saturates", lambda: here)
    (note,) = deploy._saturation_note(eight)
    assert note.startswith("its int8 weights use 8 bits")
    assert ("the measurements above include that" in note) == here and ("may lose accuracy there" in note) != here
    monkeypatch.setattr(quantize_ort, "saturates", lambda: True)
    assert deploy._saturation_note(run_to_end(quantize(load_model("sample:digits-cnn"), data, mode="static", samples=32,
                                                       tolerance=None))) == []
