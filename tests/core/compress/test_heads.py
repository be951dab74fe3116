"""Structured pruning of a Hugging Face encoder: a tiny BERT loses attention heads and feed-forward neurons,
still runs, exports to ONNX and matches itself in ONNX Runtime, opens again from a project; an embedding
output learns from the unpruned model by direction (cosine), not by a softmax over its axes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("transformers")

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from hf_folders import moved_away, sentences, tiny_bert  # noqa: E402

from studio.core.compress.channels import channels  # noqa: E402
from studio.core.compress.finetune import finetune  # noqa: E402
from studio.core.compress.train import distillation_loss  # noqa: E402
from studio.core.evaluate.data import load_data  # noqa: E402
from studio.core.evaluate.metrics import is_embedding  # noqa: E402
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
    pruned = moved_away(channels(model, 0.5, round_to=None))
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


def test_heads_and_neurons_that_write_nothing_go_first_when_ranked_on_data(folders):
    from studio.core.compress.heads import activation_scores, encoder_layers, example_scores, prune_encoder

    model = load_model(str(folders["sentence"]))
    module = copy.deepcopy(model.module)
    hf = module.model
    layer = encoder_layers(hf)[0][1]
    with torch.no_grad():  # head 0 and neuron 5 of the first layer: large weights, but nothing reaches the residual stream
        layer.attention.self.value.weight[:8] *= 0
        layer.attention.self.value.bias[:8] *= 0
        layer.attention.self.query.weight[:8] *= 50
        layer.output.dense.weight[:, 5] *= 0
        layer.intermediate.dense.weight[5] *= 50
    x = [torch.from_numpy(a) for a in ids(4, 9)][: len(model.inputs)]
    x[1][:, 7:] = 0  # padding the mask hides
    scores = activation_scores(hf, lambda: module(*x), x[1])
    heads, neurons = scores[layer]
    assert heads.shape == (4,) and neurons.shape == (64,) and float(heads[0]) == 0 and float(neurons[5]) == 0
    assert float(heads[1:].min()) > 0 and int((neurons > 0).sum()) >= 60
    names = [s.name for s in model.inputs]
    same = example_scores(module, names, {n: a.numpy() for n, a in zip(names, x)})  # as channels gets the data: by input name
    assert torch.allclose(same[layer][0], heads) and torch.allclose(same[layer][1], neurons)
    assert example_scores(module, names, None) is None and example_scores(module, names, {"input_ids": x[0].numpy()}) is None
    by_data = copy.deepcopy(hf)
    prune_encoder(by_data, 0.25, None, scores={encoder_layers(by_data)[0][1]: (heads, neurons)})
    kept = encoder_layers(by_data)[0][1]
    assert kept.attention.self.num_attention_heads == 3
    assert not torch.equal(kept.attention.self.query.weight[:8], layer.attention.self.query.weight[:8])  # head 0 went
    by_weights = copy.deepcopy(hf)
    prune_encoder(by_weights, 0.25, None)
    assert torch.equal(encoder_layers(by_weights)[0][1].attention.self.query.weight[:8], layer.attention.self.query.weight[:8])  # kept
