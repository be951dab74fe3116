"""Structured pruning of a Hugging Face transformer encoder (BERT, RoBERTa, ELECTRA, MiniLM…: layers named
`…attention.self` with query/key/value): whole attention heads and feed-forward neurons removed, the same
share from every layer so that the config still describes the model. Given examples of the data, heads
and neurons are ranked by what they add to the residual stream on them (activation_scores: a head's
output through its slice of the output projection, a neuron's mean |activation| × its down-projection
column's norm: a few examples keep the pruned model closer to the original than weights alone do,
benchmarks/RESULTS.md: Hugging Face). Without examples they are ranked by
the L2 norm of their weights (query, key, value rows and the output projection's columns; the feed-forward
layer's rows and the down projection's columns), as Torch-Pruning's BERT example ranks them (magnitude,
p=2). Torch-Pruning's layer functions cut the Linear layers. The hidden size (the residual stream, the
embeddings, the pooler, the head) stays, so the model's outputs keep their shapes.

Torch-Pruning's MetaPruner with `num_heads` removes no heads of transformers 5's BERT once the residual
stream is protected (it still narrows the feed-forward layers), so heads are chosen here."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch_pruning as tp

from studio.core.errors import StudioError
from studio.core.inspect.prunable import excluded

RANKING_EXAMPLES = 32  # heads and neurons are ranked on what they do on this many examples (activation_scores holds every token's)


def encoder_layers(hf: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """(name, layer) of every encoder layer with BERT-style attention and feed-forward blocks."""
    out = []
    for name, m in hf.named_modules():
        attn = getattr(m, "attention", None)
        if (attn is not None and hasattr(getattr(attn, "self", None), "query") and hasattr(getattr(attn, "output", None), "dense")
                and hasattr(getattr(m, "intermediate", None), "dense") and hasattr(getattr(m, "output", None), "dense")):
            out.append((name, m))
    return out


def activation_scores(hf: torch.nn.Module, run: Callable[[], object], mask: torch.Tensor | None = None) -> dict:
    """{layer: (score per head, score per feed-forward neuron)} of every encoder layer, from one call of
    `run` (the model on examples of the data): a head's score is the mean norm of what it writes into the
    residual stream (its context slice times its columns of the output projection), a neuron's the mean of
    its |activation| times the norm of its down-projection column; over the tokens `mask` keeps
    ([batch, sequence], the attention mask), all tokens without one."""
    found: dict = {}
    hooks = []
    for _, layer in encoder_layers(hf):
        s, out, down = layer.attention.self, layer.attention.output.dense, layer.output.dense

        def heads(_m, inputs, _out, layer=layer, s=s, out=out):
            context = tokens(inputs[0], mask)
            size = s.attention_head_size
            per = context.view(len(context), -1, size)  # tokens × heads × head size
            weight = out.weight.view(out.out_features, -1, size)  # hidden × heads × head size
            found.setdefault(layer, [None, None])[0] = torch.einsum("thd,ohd->tho", per, weight).norm(dim=-1).mean(0)

        def neurons(_m, inputs, _out, layer=layer, down=down):
            found.setdefault(layer, [None, None])[1] = tokens(inputs[0], mask).abs().mean(0) * down.weight.norm(dim=0)

        hooks += [out.register_forward_hook(heads), down.register_forward_hook(neurons)]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in hooks:
            h.remove()
    return {layer: tuple(v) for layer, v in found.items() if v[0] is not None and v[1] is not None}


def example_scores(module: torch.nn.Module, names: list[str], example: dict | None) -> dict | None:
    """activation_scores of the studio's module (inputs `names`, positional) on `example` (input name → an
    array of examples), or None where the example does not give every input."""
    if example is None or not names or any(n not in example or np.ndim(example[n]) == 0 for n in names):
        return None
    x = [torch.from_numpy(np.ascontiguousarray(example[n])) for n in names]
    mask = x[names.index("attention_mask")] if "attention_mask" in names else None
    return activation_scores(getattr(module, "model", module), lambda: module(*x), mask)


def tokens(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """[batch, sequence, features] → [tokens, features], the tokens the mask keeps."""
    if mask is not None and mask.shape == x.shape[:2] and bool(mask.any()):
        return x[mask.bool()]
    return x.reshape(-1, x.shape[-1])


def prune_encoder(hf: torch.nn.Module, ratio: float, round_to: int | None, exclude: list[str] = (), scores: dict | None = None) -> dict:
    """Removes `ratio` of the heads (rounded to whole heads, at least one kept) and of the feed-forward
    neurons (the kept count a multiple of round_to where it allows) of every layer, in place; ranked by
    `scores` (activation_scores) where given, else by weight norms.
    Returns {"heads": (before, after), "neurons": (before, after), "layers": count pruned}."""
    layers = [(n, m) for n, m in encoder_layers(hf) if not excluded(n, type(m).__name__, list(exclude))]
    if not layers:
        raise StudioError("no encoder layer with BERT-style attention (attention.self.query…) to remove heads "
                          "and neurons from; structured pruning of this architecture is not built")
    summary = {}
    for _, layer in layers:
        head_scores, neuron_scores = (scores or {}).get(layer, (None, None))
        summary["heads"] = _prune_heads(layer.attention, ratio, head_scores)
        summary["neurons"] = _prune_ffn(layer.intermediate.dense, layer.output.dense, ratio, round_to, neuron_scores)
    config = getattr(hf, "config", None)
    if config is not None and len(layers) == len(encoder_layers(hf)):  # every layer alike: the config says so
        config.num_attention_heads = summary["heads"][1]
        config.intermediate_size = summary["neurons"][1]
    summary["layers"] = len(layers)
    return summary


def _prune_heads(attention: torch.nn.Module, ratio: float, per_head: torch.Tensor | None = None) -> tuple[int, int]:
    s, out = attention.self, attention.output.dense
    size = s.attention_head_size
    heads = s.query.out_features // size
    keep = max(1, heads - round(heads * ratio))
    if keep < heads:
        per_head = per_head if per_head is not None and len(per_head) == heads else _weight_scores(s, out, heads, size)
        dropped = sorted(per_head.argsort(descending=True)[keep:].tolist())
        idxs = [h * size + i for h in dropped for i in range(size)]
        for lin in (s.query, s.key, s.value):
            tp.prune_linear_out_channels(lin, idxs)
        tp.prune_linear_in_channels(out, idxs)
        s.num_attention_heads = keep
        s.all_head_size = keep * size
    return heads, keep


def _weight_scores(s: torch.nn.Module, out: torch.nn.Linear, heads: int, size: int) -> torch.Tensor:
    score = sum(lin.weight.detach().pow(2).sum(1) + (lin.bias.detach().pow(2) if lin.bias is not None else 0)
                for lin in (s.query, s.key, s.value)) + out.weight.detach().pow(2).sum(0)
    return score.view(heads, size).sum(1)


def _prune_ffn(up: torch.nn.Linear, down: torch.nn.Linear, ratio: float, round_to: int | None,
               score: torch.Tensor | None = None) -> tuple[int, int]:
    width = up.out_features
    keep = width - round(width * ratio)
    if round_to and keep >= round_to:
        keep -= keep % round_to
    keep = max(1, keep)
    if keep < width:
        if score is None or len(score) != width:
            score = up.weight.detach().pow(2).sum(1) + down.weight.detach().pow(2).sum(0)
        dropped = sorted(score.argsort(descending=True)[keep:].tolist())
        tp.prune_linear_out_channels(up, dropped)
        tp.prune_linear_in_channels(down, dropped)
    return width, keep
