"""Structured pruning of a Hugging Face encoder: a tiny BERT loses attention heads and feed-forward neurons,
still runs, exports to ONNX and matches itself in ONNX Runtime, opens again from a project; an embedding
output learns from the unpruned model by direction (cosine), not by a softmax over its axes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from hf_folders import sentences, tiny_bert  # noqa: E402

from studio.core.compress.channels import channels  # noqa: E402
from studio.core.compress.finetune import finetune  # noqa: E402
from studio.core.compress.train import distillation_loss, is_embedding  # noqa: E402
from studio.core.evaluate.data import load_data  # noqa: E402
from studio.core.formats.load import load_model  # noqa: E402
from studio.core.formats.load_onnx import full_onnx  # noqa: E402
from studio.core.formats.to_onnx import to_onnx  # noqa: E402
from studio.core.process.jobs import run_to_end  # noqa: E402


def bigger_bert(folder, head: str):
    """The tiny BERT with 4 heads of 8 and 64 feed-forward neurons, so that a ratio removes whole heads."""
    import transformers

    tiny_bert(folder, head)
    config = transformers.AutoConfig.from_pretrained(folder)
    config.num_attention_heads, config.intermediate_size = 4, 64
    torch.manual_seed(1)
    cls = transformers.BertForSequenceClassification if head == "sequence" else transformers.BertModel
    cls(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp("heads")
    return {head: bigger_bert(d / head, head) for head in ("sequence", "sentence")}


def ids(batch: int, length: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(5, 90, (batch, length)).astype(np.int64), np.ones((batch, length), np.int64),
            np.zeros((batch, length), np.int64)]


def test_heads_and_neurons_go_and_the_model_runs_and_exports(folders):
    model = load_model(str(folders["sequence"]))
    assert model.capabilities()["prune_structured"].allowed
    pruned = channels(model, 0.5, round_to=8)
    layers = pruned.module.model.bert.encoder.layer
    for layer in layers:
        attn = layer.attention.self
        assert attn.query.out_features == attn.key.out_features == attn.value.out_features == 16  # 2 of 4 heads of 8
        assert attn.num_attention_heads == 2 and layer.attention.output.dense.in_features == 16
        assert layer.intermediate.dense.out_features == 32 == layer.output.dense.in_features
        assert layer.output.dense.out_features == 32  # the hidden size stays
    config = pruned.module.model.config
    assert (config.num_attention_heads, config.intermediate_size) == (2, 32)
    assert model.module.model.bert.encoder.layer[0].attention.self.query.out_features == 32  # the original is untouched
    assert "heads 4 → 2" in pruned.notes[-1]
    x = ids(3, 11)
    names = [s.name for s in pruned.inputs]
    with torch.no_grad():
        want = pruned.module(*(torch.from_numpy(a) for a in x[: len(names)])).numpy()
    assert want.shape == (3, 2)
    session = ort.InferenceSession(full_onnx(to_onnx(pruned)).SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, dict(zip(names, x)))[0]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_excluded_layers_keep_their_heads(folders):
    pruned = channels(load_model(str(folders["sequence"])), 0.5, round_to=None, exclude=["bert.encoder.layer.0"])
    layers = pruned.module.model.bert.encoder.layer
    assert [layer.attention.self.num_attention_heads for layer in layers] == [4, 2]


def test_an_embedding_learns_from_the_unpruned_model_by_cosine(folders, tmp_path):
    model = load_model(str(folders["sentence"]))
    assert is_embedding(model) and model.outputs[0].name == "sentence_embedding"
    texts, _ = sentences(80)
    (tmp_path / "s.txt").write_text("\n".join(texts) + "\n")
    data = load_data({"path": str(tmp_path / "s.txt"), "labels": "none"}, tokenizer=model.tokenizer)
    pruned = channels(model, 0.5, round_to=None)
    torch.manual_seed(0)
    with torch.no_grad():  # a random model's pooled embedding hardly changes with its heads: move it away
        for p in pruned.module.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    seen = []
    tuned = run_to_end(finetune(pruned, data, epochs=6, lr=3e-3, batch_size=16, teacher=model),
                       lambda p: seen.append(p.metrics) if "cosine" in p.metrics else None)
    x = [torch.from_numpy(a) for a in data.shaped_for(model.inputs).x.values()]
    with torch.no_grad():
        ref, before, after = (m.module(*x) for m in (model, pruned, tuned))
    cos = [float(torch.nn.functional.cosine_similarity(o, ref).mean()) for o in (before, after)]
    assert cos[1] > cos[0] + 0.02 and cos[1] > 0.95, cos
    assert seen[-1]["cosine"] > 0.95


def test_the_embedding_loss_is_cosine_not_a_softmax():
    teacher = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    scaled = teacher * 3  # the same directions: a softmax over the axes differs, the cosine does not
    loss, _, _ = distillation_loss(scaled, teacher, None, 1.0, 0.0, embedding=True)
    same, _, _ = distillation_loss(teacher, teacher, None, 1.0, 0.0, embedding=True)
    assert float(same) < 1e-6 and float(loss) > 0  # the length counts (relative squared error) …
    turned, _, _ = distillation_loss(-teacher, teacher, None, 1.0, 0.0, embedding=True)
    assert float(turned) > float(loss)  # … and the direction counts more
