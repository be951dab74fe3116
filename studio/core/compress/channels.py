"""Structured pruning: whole channels and neurons removed with Torch-Pruning (DepGraph), so the model
gets physically smaller and faster. L1 magnitude (Li et al. 2017) ranks channels; counts are rounded
to a multiple of `round_to` (8 by default: odd counts slow runtimes down, Torch-Pruning issue #38)."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import torch
import torch_pruning as tp

from studio.core.compress.channel_graph import prepare
from studio.core.compress.channel_refit import REFIT_ELEMENTS, record_kept, refit_checked, refit_layers
from studio.core.compress.encoder_refit import REFIT_EXAMPLES, refit_encoder, token_batches
from studio.core.compress.heads import RANKING_EXAMPLES, example_scores, prune_encoder
from studio.core.errors import StudioError, first_line
from studio.core.evaluate.data import DataSet
from studio.core.formats.examples import example_inputs
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.formats.onnx_to_torch import flatten_reshapes
from studio.core.formats.onnx_to_torch_ops import LSTM
from studio.core.inspect.prunable import excluded
from studio.core.process.locks import MODULE_LOCK

STRUCTURED_FORMATS = {Format.SAMPLE, Format.PICKLED_MODULE, Format.HF_FOLDER, Format.CONVERTED}


def output_layers(module: torch.nn.Module, example) -> list[torch.nn.Module]:
    """The layers that write the model's outputs: their output channels must stay (class count)."""
    with torch.no_grad():
        out = module(*example)
    width = (out[0] if isinstance(out, (tuple, list)) else out).shape[-1]
    candidates = [m for m in module.modules() if isinstance(m, (torch.nn.Linear, torch.nn.modules.conv._ConvNd))]
    last = [m for m in candidates if getattr(m, "out_features", getattr(m, "out_channels", None)) == width]
    return last[-1:] if last else candidates[-1:]


def channels(model: Model, ratio: float, round_to: int | None = 8, exclude: list[str] = (), example: dict | None = None) -> Model:
    """A new, narrower version with `ratio` of the channels of every prunable layer removed, traced on
    `example` (input name → examples of the data) where given."""
    allowed = model.capabilities()["prune_structured"]
    if model.format not in STRUCTURED_FORMATS or not allowed.allowed:
        raise StudioError(allowed.reason if not allowed.allowed else "channels are removed from a PyTorch module: an ONNX "
                          "model is converted first (the prune step does it, checked on the data)", model.source)
    if not 0 < ratio < 1:
        raise StudioError(f"channel ratio {ratio} must be between 0 and 1")
    with MODULE_LOCK:
        if model.format is Format.HF_FOLDER:
            return _transformer(model, ratio, round_to, exclude, example)
        return _channels(model, ratio, round_to, exclude, example)


def examples_wanted(model: Model, data: DataSet) -> int:
    """How many examples of the data channel pruning ranks and refits on: a transformer's REFIT_EXAMPLES
    (fitted batch by batch); for other models as many as REFIT_ELEMENTS input numbers allow (the refit
    holds them all in one pass), 2 to 64."""
    if model.format is Format.HF_FOLDER:
        return REFIT_EXAMPLES
    per = sum(int(np.prod(a.shape[1:])) for a in data.example_for(model.inputs, 1).values())
    return max(2, min(64, REFIT_ELEMENTS // max(per, 1)))


def _transformer(model: Model, ratio: float, round_to: int | None, exclude: list[str], example: dict | None) -> Model:
    """A Hugging Face encoder: heads and feed-forward neurons removed (compress/heads), ranked by what they
    contribute on the first RANKING_EXAMPLES of the example where given, else by their weights; then, on
    the whole example, each layer's output projections refitted to the original's (compress/encoder_refit).
    Outputs keep their shapes."""
    module = copy.deepcopy(model.module).cpu().eval()
    names = [s.name for s in model.inputs]
    ranking = None if example is None else {k: v[:RANKING_EXAMPLES] if np.ndim(v) else v for k, v in example.items()}
    scores = example_scores(module, names, ranking)
    done = prune_encoder(getattr(module, "model", module), ratio, round_to, exclude, scores=scores)
    with torch.no_grad():
        module(*example_inputs(model))  # still runs
    (h0, h1), (n0, n1) = done["heads"], done["neurons"]
    ranked = f"ranked on {len(next(iter(ranking.values())))} examples" if scores is not None else "ranked by weight norms"
    note = f"{done['layers']} layers pruned: attention heads {h0} → {h1}, feed-forward neurons {n0} → {n1} per layer ({ranked})"
    if scores is not None:
        batches, mask_at = token_batches(example, names)
        done = refit_checked(module, model.module, batches, lambda: refit_encoder(module, model.module, batches, mask_at))
        note += (f"; output projections not refitted: {done}" if isinstance(done, str) else
                 f"; output projections refitted on {len(next(iter(example.values())))} examples "
                 f"(cosine to the original on them {done[1]:.4f} → {done[2]:.4f})")
    return replace(model, module=module, notes=[*model.notes, note])


def _channels(model: Model, ratio: float, round_to: int | None, exclude: list[str], example: dict | None) -> Model:
    """Torch-Pruning removes the channels; given examples of the data, the layers are then refitted to the
    original's outputs on them (compress/channel_refit), and kept so only where that brings the model's
    outputs on them closer to the original's."""
    module = copy.deepcopy(model.module).cpu().eval()
    given = example if example is not None and all(s.name in example for s in model.inputs) else None
    example = example_inputs(model, example)
    unwrapped = []
    if model.format is Format.CONVERTED:
        if any(isinstance(m, LSTM) for m in module.modules()):
            raise StudioError("channels are not removed from recurrent layers (an ONNX LSTM): Torch-Pruning does not follow them", model.source)
        try:
            flatten_reshapes(module, example)
            graph = prepare(module, example)
        except Exception as e:  # an operator that torch.fx cannot trace or propagate shapes through
            raise StudioError(f"the converted graph could not be made ready for Torch-Pruning ({first_line(e)})", model.source) from None
        ignored, unwrapped = graph["fixed"], graph["unwrapped"]
    else:
        ignored = output_layers(module, example)
    ignored += [m for name, m in module.named_modules() if name and excluded(name, type(m).__name__, list(exclude))]
    original = copy.deepcopy(module) if given is not None else None  # as prepared for Torch-Pruning: its modules named as the pruned ones
    try:
        pruner = tp.pruner.MetaPruner(
            module,
            example,
            importance=tp.importance.GroupMagnitudeImportance(p=1),
            pruning_ratio=ratio,
            ignored_layers=ignored,
            round_to=round_to or None,
            unwrapped_parameters=unwrapped,
        )
        kept = record_kept(pruner)
    except Exception as e:  # Torch-Pruning raises many types on graphs it cannot follow
        raise StudioError(f"Torch-Pruning could not prune this model ({first_line(e)})", model.source) from None
    try:
        with torch.no_grad():
            out = module(*example)
    except Exception as e:  # a size written into the graph that Torch-Pruning cannot see (a converted ONNX model's constants)
        raise StudioError(f"Torch-Pruning removed channels, but the model no longer runs ({first_line(e)})", model.source) from None
    out = out[0] if isinstance(out, (tuple, list)) else out
    # the first output's channels may have changed; its batch axis stays as declared (dynamic)
    outputs = [TensorSpec(s.name, (s.shape[0], *out.shape[1:]) if i == 0 and s.shape else s.shape, s.dtype)
               for i, s in enumerate(model.outputs)]
    notes = list(model.notes)
    if original is not None:  # on all the examples given (the trace took 2)
        notes.append(_refit(module, original, kept, [_tensor(given[s.name]) for s in model.inputs]))
    if model.origin is not None:  # its layers changed size: it is exported again by torch.onnx, not into the original graph
        notes.append("channels removed from the converted model: exported by torch.onnx, not written back into the original graph")
    return replace(model, module=module, outputs=outputs or model.outputs, notes=notes, origin=None)


def _refit(module: torch.nn.Module, original: torch.nn.Module, kept: dict, example: list) -> str:
    """The layers refitted on all the examples given (channel_refit), and the note that says how it went."""
    done = refit_checked(module, original, [example], lambda: refit_layers(module, original, kept, example))
    if isinstance(done, str):
        return f"layers not refitted: {done}"
    if not done[0]:
        return "no layer to refit (none is a Conv2d or Linear whose outputs could be matched to the original's)"
    n = len(example[0]) if getattr(example[0], "ndim", 0) else 1
    return f"{done[0]} layers refitted to the original's outputs on {n} examples (cosine to the original on them {done[1]:.4f} → {done[2]:.4f})"


def _tensor(a):
    return torch.from_numpy(np.ascontiguousarray(a)) if np.ndim(a) else np.asarray(a).item()
