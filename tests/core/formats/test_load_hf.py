"""Hugging Face model folders: a tiny BERT saved with save_pretrained opens as a PyTorch module taking its
inputs positionally, goes through every operation the command line runs, and exports to ONNX with dynamic
batch and sequence axes; a folder whose config asks for its own code is refused without trust, and no code runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from hf_folders import sentences, tiny_bert  # noqa: E402

from studio.core.deliver import deploy  # noqa: E402
from studio.core.errors import StudioError, TrustRequired  # noqa: E402
from studio.core.evaluate.data import load_data  # noqa: E402
from studio.core.formats import load_hf  # noqa: E402
from studio.core.formats.load import load_model  # noqa: E402
from studio.core.formats.model import Format  # noqa: E402
from studio.core.formats.to_onnx import to_onnx  # noqa: E402
from studio.core.inspect.precision import quantized_ops  # noqa: E402
from studio.core.inspect.summary import summarize  # noqa: E402
from studio.core.process.jobs import NO_CANCEL, run_to_end  # noqa: E402
from studio.core.project.recipe import StepResult, run_step, step_metrics  # noqa: E402
from studio.core.project.steps import OPS, Context  # noqa: E402

TEXT = ("input_ids", "attention_mask", "token_type_ids")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf")
    return {head: tiny_bert(d / head, head, labels=3 if head == "token" else 2) for head in ("sequence", "token", "sentence", "base")}


def ids(batch: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), np.int64)
    mask[0, length // 2:] = 0  # a padded example
    return {"input_ids": rng.integers(5, 90, (batch, length)), "attention_mask": mask,
            "token_type_ids": np.zeros((batch, length), np.int64)}


def test_a_classifier_opens_as_a_module_taking_token_ids_positionally(folders):
    from transformers import AutoModelForSequenceClassification

    model = load_model(str(folders["sequence"]))
    assert model.format is Format.HF_FOLDER and model.tokenizer == str(folders["sequence"])
    assert [(s.name, s.shape, s.dtype) for s in model.inputs] == [(n, ("batch", "sequence"), "int64") for n in TEXT]
    assert [(s.name, s.shape) for s in model.outputs] == [("logits", ("batch", 2))]
    assert model.capabilities()["finetune"].allowed and model.capabilities()["quantize"].allowed
    x = ids(3, 11)
    reference = AutoModelForSequenceClassification.from_pretrained(str(folders["sequence"]), local_files_only=True).eval()
    with torch.no_grad():
        got = model.module(*(torch.from_numpy(x[n]) for n in TEXT))
        want = reference(**{n: torch.from_numpy(v) for n, v in x.items()}).logits
    assert torch.allclose(got, want, atol=1e-6)
    summary = summarize(model)
    assert summary["format"] == "hf-folder" and summary["parameters"] == sum(p.numel() for p in reference.parameters())


def test_the_head_follows_the_config_and_a_pooling_config_makes_a_sentence_embedding(folders):
    token = load_model(str(folders["token"]))
    assert [(s.name, s.shape) for s in token.outputs] == [("logits", ("batch", "sequence", 3))]
    base = load_model(str(folders["base"]))
    assert [(s.name, s.shape) for s in base.outputs] == [("last_hidden_state", ("batch", "sequence", 32))]
    sentence = load_model(str(folders["sentence"]))
    assert [(s.name, s.shape) for s in sentence.outputs] == [("sentence_embedding", ("batch", 32))]
    x = {n: torch.from_numpy(v) for n, v in ids(3, 9).items()}
    with torch.no_grad():
        embedding = sentence.module(*x.values())
        hidden = base.module(*x.values())  # the same weights (seed) without pooling
    mask = x["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1)
    assert torch.allclose(embedding, torch.nn.functional.normalize(mean, dim=1), atol=1e-5)
    assert "mean-pooled normalised sentence embedding" in sentence.notes[0]


@pytest.mark.parametrize("head", ["sequence", "token", "sentence", "base"])
def test_export_names_the_inputs_and_keeps_batch_and_sequence_dynamic(folders, head):
    model = load_model(str(folders[head]))
    onnx_model = to_onnx(model)
    assert not model.module.training  # as loaded, and as the exporter leaves it
    session = ort.InferenceSession(onnx_model.onnx.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [(n, ["batch", "sequence"], "tensor(int64)") for n in TEXT]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [(s.name, list(s.shape)) for s in model.outputs]
    for batch, length in ((1, 5), (4, 23)):  # neither the traced example's (2, 2) nor each other's
        x = ids(batch, length, seed=length)
        with torch.no_grad():
            want = model.module(*(torch.from_numpy(x[n]) for n in TEXT)).numpy()
        np.testing.assert_allclose(session.run(None, x)[0], want, atol=1e-5)
    assert not any("fallback" in note for note in onnx_model.notes)  # the dynamo exporter took it


def test_a_tiny_bert_goes_through_every_operation(folders, tmp_path, monkeypatch):
    monkeypatch.setattr(deploy, "LATENCY_BATCHES", (1,))
    monkeypatch.setattr(deploy, "BUDGET_S", 0.5)
    texts, labels = sentences(100)
    (tmp_path / "reviews.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels)))
    model = load_model(str(folders["sequence"]))
    data = load_data(str(tmp_path / "reviews.csv"), tokenizer=model.tokenizer)
    assert data.classes == ["neg", "pos"] and data.x["input_ids"].dtype == np.int64
    metrics, outputs = step_metrics(model, data, None, "cpu")
    assert 0 <= metrics["accuracy"] <= 1 and metrics["latency_ms"] > 0
    base = StepResult("load", {}, "original", model, metrics, outputs)
    ctx = Context(data, "cpu", NO_CANCEL, original=model)

    def step(previous, op, options):
        return run_to_end(run_step(previous, op, OPS[op].validate(op, options), ctx))

    pruned = step(base, "prune", {"method": "magnitude", "sparsity": 0.5})
    assert pruned.metrics["weight_sparsity"] >= 0.49
    tuned = step(pruned, "finetune", {"epochs": 8, "lr": 0.01, "batch_size": 16})
    assert tuned.model.format is Format.HF_FOLDER and tuned.metrics["weight_sparsity"] >= 0.49  # pruned weights stay zero
    assert tuned.metrics["accuracy"] >= 0.8  # the sentences say their label in their first words
    quantized = step(tuned, "quantize", {"mode": "dynamic"})
    assert quantized.model.onnx is not None and quantized.metrics["agreement"] >= 0.9 and quantized.metrics["size_ratio"] < 1
    for options in ({"mode": "static"}, {"mode": "qat", "epochs": 1, "lr": 1e-4}):  # through its ONNX export, run by ONNX Runtime
        rounded = step(tuned, "quantize", options)
        ops = {n.op_type for n in rounded.model.onnx.graph.node}
        layers = {op.precision for op in quantized_ops(rounded.model.onnx) if op.op_type in ("MatMul", "Gemm")}
        # its weights int8, not its size: at 83 KB the Q/DQ pairs around every activation outweigh what int8 saves
        assert "QuantizeLinear" in ops and "int8" in layers and rounded.metrics["agreement"] >= 0.9, options
    out = run_to_end(deploy.export_version(quantized.model, tmp_path / "m.onnx", data, original=model))
    assert out["metrics"]["latency"][0]["input_shapes"]["input_ids"][1] == data.x["input_ids"].shape[1]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", "sequence"]
    assert session.run(None, ids(2, 37))[0].shape == (2, 2)  # longer than the data's sequences


def test_a_version_saved_in_a_project_opens_again(folders, tmp_path):
    from studio.core.compress.prune import magnitude
    from studio.core.project.project_file import Project, open_project, save_project
    from studio.core.project.versions import History

    model = load_model(str(folders["sequence"]))
    history = History()
    v0 = history.add(StepResult("load", {}, "original", model, {}), None, "v0")
    history.add(StepResult("prune", {}, "pruned", magnitude(model, 0.5), {}), v0.id, "v1")
    save_project(tmp_path / "p", Project(history))
    restored = open_project(tmp_path / "p").history.versions[1].model
    assert restored.format is Format.HF_FOLDER and restored.module is not history.versions[1].model.module
    x = [torch.from_numpy(v) for v in ids(2, 7).values()]
    with torch.no_grad():
        assert torch.allclose(restored.module(*x), history.versions[1].model.module(*x))


def remote_code_folder(folder, marker):
    tiny_bert(folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(auto_map={"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}, architectures=["EvilModel"])
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
                                             "from transformers import BertForSequenceClassification\n"
                                             "class EvilModel(BertForSequenceClassification):\n    pass\n")
    return folder


def test_a_folder_with_its_own_code_is_refused_without_trust_and_no_code_runs(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    folder = remote_code_folder(tmp_path / "evil", marker)
    with pytest.raises(TrustRequired, match=r"modeling_evil\.py.*--trust") as e:
        load_model(str(folder))
    assert "\n" not in str(e.value) and not marker.exists()
    import transformers.dynamic_module_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))  # not the user's cache
    trusted = load_model(str(folder), trust=True)
    assert marker.exists() and [s.name for s in trusted.outputs] == ["logits"]
    assert any("modeling_evil.py" in note for note in trusted.notes)


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "config.json").write_text("{not json"), "cannot read config.json"),
    (lambda d: (d / "model.safetensors").unlink(), "without weights"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\0" * 64), "transformers cannot open it"),
    (lambda d: (d / "config.json").unlink(), "is a folder, not a model file"),
])
def test_a_damaged_folder_is_one_line(tmp_path, damage, words):
    folder = tiny_bert(tmp_path / "m")
    damage(folder)
    with pytest.raises(StudioError, match=words) as e:
        load_model(str(folder))
    assert "\n" not in str(e.value)


def test_without_transformers_the_install_is_named(folders, monkeypatch):
    monkeypatch.setattr(load_hf, "transformers_installed", lambda: False)
    with pytest.raises(StudioError, match=r"compression-studio\[transformers\]"):
        load_model(str(folders["sequence"]))
