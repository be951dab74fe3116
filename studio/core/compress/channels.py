"""Structured pruning: whole channels and neurons removed with Torch-Pruning (DepGraph), so the model
gets physically smaller and faster. L1 magnitude (Li et al. 2017) ranks channels; counts are rounded
to a multiple of `round_to` (8 by default: odd counts slow runtimes down, Torch-Pruning issue #38)."""

from __future__ import annotations

import copy
from dataclasses import replace

import torch
import torch_pruning as tp

from studio.core.errors import StudioError, first_line
from studio.core.formats.examples import example_inputs
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.inspect.prunable import excluded
from studio.core.process.locks import MODULE_LOCK

STRUCTURED_FORMATS = {Format.SAMPLE, Format.PICKLED_MODULE}


def output_layers(module: torch.nn.Module, example) -> list[torch.nn.Module]:
    """The layers that write the model's outputs: their output channels must stay (class count)."""
    with torch.no_grad():
        out = module(*example)
    width = (out[0] if isinstance(out, (tuple, list)) else out).shape[-1]
    candidates = [m for m in module.modules() if isinstance(m, (torch.nn.Linear, torch.nn.modules.conv._ConvNd))]
    last = [m for m in candidates if getattr(m, "out_features", getattr(m, "out_channels", None)) == width]
    return last[-1:] if last else candidates[-1:]


def channels(model: Model, ratio: float, round_to: int | None = 8, exclude: list[str] = ()) -> Model:
    """A new, narrower version with `ratio` of the channels of every prunable layer removed."""
    if model.format not in STRUCTURED_FORMATS:
        raise StudioError(model.capabilities()["prune_structured"].reason or "structured pruning needs a PyTorch module", model.source)
    if not 0 < ratio < 1:
        raise StudioError(f"channel ratio {ratio} must be between 0 and 1")
    with MODULE_LOCK:
        return _channels(model, ratio, round_to, exclude)


def _channels(model: Model, ratio: float, round_to: int | None, exclude: list[str]) -> Model:
    module = copy.deepcopy(model.module).cpu().eval()
    example = example_inputs(model)
    ignored = output_layers(module, example)
    ignored += [m for name, m in module.named_modules() if name and excluded(name, type(m).__name__, list(exclude))]
    try:
        pruner = tp.pruner.MetaPruner(
            module,
            example,
            importance=tp.importance.GroupMagnitudeImportance(p=1),
            pruning_ratio=ratio,
            ignored_layers=ignored,
            round_to=round_to or None,
        )
        pruner.step()
    except Exception as e:  # Torch-Pruning raises many types on graphs it cannot follow
        raise StudioError(f"Torch-Pruning could not prune this model ({first_line(e)})", model.source) from None
    with torch.no_grad():
        out = module(*example)
    # the first output's channels may have changed; its batch axis stays as declared (dynamic)
    outputs = [TensorSpec(s.name, (s.shape[0], *out.shape[1:]) if i == 0 and s.shape else s.shape, s.dtype)
               for i, s in enumerate(model.outputs)]
    return replace(model, module=module, outputs=outputs or model.outputs, notes=list(model.notes))
