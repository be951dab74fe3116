"""Refitting a pruned encoder's output projections: the pruned model comes back towards the original on the
examples, an unpruned copy is left as it is, the ridge holds the weights, padding takes no part, and the
prune step of a Hugging Face folder refits and says so."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402
from hf_folders import sentences, tiny_bert  # noqa: E402

from studio.core.compress.channels import channels  # noqa: E402
from studio.core.compress.encoder_refit import refit_encoder, token_batches  # noqa: E402
from studio.core.compress.heads import encoder_layers, prune_encoder  # noqa: E402
from studio.core.evaluate.data import load_data  # noqa: E402
from studio.core.formats.load import load_model  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny BERT returning its last hidden state (every token's), 4 heads of 8 and 64 neurons per layer."""
    import transformers

    folder = tiny_bert(tmp_path_factory.mktemp("refit") / "bert", "base")
    config = transformers.AutoConfig.from_pretrained(folder)
    config.num_attention_heads, config.intermediate_size = 4, 64
    torch.manual_seed(1)
    transformers.BertModel(config).save_pretrained(folder)
    return load_model(str(folder))


def example(n: int, length: int = 12, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 90, (n, length)).astype(np.int64)
    mask = np.ones((n, length), np.int64)
    for row, used in enumerate(rng.integers(4, length + 1, n)):
        ids[row, used:], mask[row, used:] = 0, 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros((n, length), np.int64)}


def pruned(model):
    module = copy.deepcopy(model.module)
    prune_encoder(module.model, 0.5, None)
    return module


def error(module, original, x: dict, names) -> float:
    """Relative squared error of the last hidden state over the tokens the mask keeps."""
    t = [torch.from_numpy(x[n]) for n in names]
    keep = t[names.index("attention_mask")].bool()
    with torch.no_grad():
        got, want = module(*t)[keep], original(*t)[keep]
    return float((got - want).pow(2).sum() / want.pow(2).sum())


def test_a_pruned_encoder_comes_back_towards_the_original(model):
    names = [s.name for s in model.inputs]
    module = pruned(model)
    fit, other = example(64), example(32, seed=1)
    before = error(module, model.module, fit, names), error(module, model.module, other, names)
    refit_encoder(module, model.module, *token_batches(fit, names, size=16))
    after = error(module, model.module, fit, names), error(module, model.module, other, names)
    assert after[0] < 0.7 * before[0]  # on the examples it was fitted on …
    assert after[1] < before[1]  # … and on others
    assert module.model.encoder.layer[0].attention.output.dense.in_features == 16  # still pruned


def test_an_unpruned_copy_is_left_as_it_is(model):
    names = [s.name for s in model.inputs]
    module = copy.deepcopy(model.module)
    refit_encoder(module, model.module, *token_batches(example(16), names))
    for (_, a), (_, b) in zip(encoder_layers(module.model), encoder_layers(model.module.model)):
        torch.testing.assert_close(a.output.dense.weight, b.output.dense.weight, atol=1e-4, rtol=0)
        torch.testing.assert_close(a.attention.output.dense.bias, b.attention.output.dense.bias, atol=1e-4, rtol=0)


def test_the_ridge_holds_the_weights(model):
    names = [s.name for s in model.inputs]
    moved = {}
    for ridge in (1.0, 1e6):
        module = pruned(model)
        start = module.model.encoder.layer[1].output.dense.weight.detach().clone()
        refit_encoder(module, model.module, *token_batches(example(16), names), ridge=ridge)
        moved[ridge] = float((module.model.encoder.layer[1].output.dense.weight.detach() - start).abs().max())
    assert moved[1e6] < 1e-3 * moved[1.0]


def test_padding_takes_no_part(model):
    names = [s.name for s in model.inputs]
    x = example(8)
    padded = {k: np.pad(v, ((0, 0), (0, 6))) for k, v in x.items()}  # six more positions the mask hides
    padded["input_ids"][:, -6:] = 7  # whatever they hold
    batches, mask_at = token_batches(padded, names, size=8)
    assert batches[0][0].shape[1] == int(x["attention_mask"].sum(1).max())  # cut after the longest
    a, b = pruned(model), pruned(model)
    refit_encoder(a, model.module, *token_batches(x, names, size=8))
    refit_encoder(b, model.module, [[t for t in batch] for batch in _uncut(padded, names)], mask_at)
    torch.testing.assert_close(a.model.encoder.layer[1].output.dense.weight, b.model.encoder.layer[1].output.dense.weight,
                               atol=1e-5, rtol=0)


def _uncut(x: dict, names) -> list:
    return [[torch.from_numpy(x[n]) for n in names]]


def test_the_prune_step_of_a_folder_refits_and_says_so(model, tmp_path):
    texts, _ = sentences(40)
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n")
    data = load_data({"path": str(tmp_path / "t.txt"), "labels": "none"}, tokenizer=model.tokenizer)
    got = channels(model, 0.5, round_to=None, example=data.example_for(model.inputs, 40))
    assert "output projections refitted on 40 examples" in got.notes[-1]
    before, after = (float(v) for v in got.notes[-1].split("cosine to the original on them ")[1].rstrip(")").split(" → "))
    assert after > before, got.notes[-1]
    plain = channels(model, 0.5, round_to=None)  # no data: ranked by weights, nothing to refit on
    assert "refitted" not in plain.notes[-1]


def test_a_folder_whose_refit_fails_is_still_pruned(model, tmp_path, monkeypatch):
    from studio.core.compress import channels as module

    texts, _ = sentences(40)
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n")
    data = load_data({"path": str(tmp_path / "t.txt"), "labels": "none"}, tokenizer=model.tokenizer)

    def fails(*_args, **_kwargs):
        raise TypeError("BertSelfOutput called with keywords")

    monkeypatch.setattr(module, "refit_encoder", fails)
    got = channels(model, 0.5, round_to=None, example=data.example_for(model.inputs, 40))
    assert got.notes[-1].endswith("; output projections not refitted: the refit failed (BertSelfOutput called with keywords)")
    assert got.module.model.encoder.layer[0].attention.output.dense.in_features == 16
