"""Structured pruning of a Hugging Face transformer encoder (BERT, RoBERTa, ELECTRA, MiniLM…: layers named
`…attention.self` with query/key/value): whole attention heads and feed-forward neurons removed, the same
share from every layer so that the config still describes the model. Heads and neurons are ranked by the
L2 norm of their weights (query, key, value rows and the output projection's columns; the feed-forward
layer's rows and the down projection's columns), as Torch-Pruning's BERT example ranks them (magnitude,
p=2); Torch-Pruning's layer functions cut the Linear layers. The hidden size (the residual stream, the
embeddings, the pooler, the head) stays, so the model's outputs keep their shapes.

Torch-Pruning's MetaPruner with `num_heads` removes no heads of transformers 5's BERT once the residual
stream is protected (it still narrows the feed-forward layers), so heads are chosen here."""

from __future__ import annotations

import torch
import torch_pruning as tp

from studio.core.errors import StudioError
from studio.core.inspect.prunable import excluded


def encoder_layers(hf: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """(name, layer) of every encoder layer with BERT-style attention and feed-forward blocks."""
    out = []
    for name, m in hf.named_modules():
        attn = getattr(m, "attention", None)
        if (attn is not None and hasattr(getattr(attn, "self", None), "query") and hasattr(getattr(attn, "output", None), "dense")
                and hasattr(getattr(m, "intermediate", None), "dense") and hasattr(getattr(m, "output", None), "dense")):
            out.append((name, m))
    return out


def prune_encoder(hf: torch.nn.Module, ratio: float, round_to: int | None, exclude: list[str] = ()) -> dict:
    """Removes `ratio` of the heads (rounded to whole heads, at least one kept) and of the feed-forward
    neurons (the kept count a multiple of round_to where it allows) of every layer, in place.
    Returns {"heads": (before, after), "neurons": (before, after), "layers": count pruned}."""
    layers = [(n, m) for n, m in encoder_layers(hf) if not excluded(n, type(m).__name__, list(exclude))]
    if not layers:
        raise StudioError("no encoder layer with BERT-style attention (attention.self.query…) to remove heads "
                          "and neurons from; structured pruning of this architecture is not built")
    summary = {}
    for _, layer in layers:
        summary["heads"] = _prune_heads(layer.attention, ratio)
        summary["neurons"] = _prune_ffn(layer.intermediate.dense, layer.output.dense, ratio, round_to)
    config = getattr(hf, "config", None)
    if config is not None and len(layers) == len(encoder_layers(hf)):  # every layer alike: the config says so
        config.num_attention_heads = summary["heads"][1]
        config.intermediate_size = summary["neurons"][1]
    summary["layers"] = len(layers)
    return summary


def _prune_heads(attention: torch.nn.Module, ratio: float) -> tuple[int, int]:
    s, out = attention.self, attention.output.dense
    size = s.attention_head_size
    heads = s.query.out_features // size
    keep = max(1, heads - round(heads * ratio))
    if keep < heads:
        score = sum(lin.weight.detach().pow(2).sum(1) + (lin.bias.detach().pow(2) if lin.bias is not None else 0)
                    for lin in (s.query, s.key, s.value)) + out.weight.detach().pow(2).sum(0)
        per_head = score.view(heads, size).sum(1)
        dropped = sorted(per_head.argsort(descending=True)[keep:].tolist())
        idxs = [h * size + i for h in dropped for i in range(size)]
        for lin in (s.query, s.key, s.value):
            tp.prune_linear_out_channels(lin, idxs)
        tp.prune_linear_in_channels(out, idxs)
        s.num_attention_heads = keep
        s.all_head_size = keep * size
    return heads, keep


def _prune_ffn(up: torch.nn.Linear, down: torch.nn.Linear, ratio: float, round_to: int | None) -> tuple[int, int]:
    width = up.out_features
    keep = width - round(width * ratio)
    if round_to and keep >= round_to:
        keep -= keep % round_to
    keep = max(1, keep)
    if keep < width:
        score = up.weight.detach().pow(2).sum(1) + down.weight.detach().pow(2).sum(0)
        dropped = sorted(score.argsort(descending=True)[keep:].tolist())
        tp.prune_linear_out_channels(up, dropped)
        tp.prune_linear_in_channels(down, dropped)
    return width, keep
