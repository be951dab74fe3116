"""After heads and neurons are removed (compress/heads), each encoder layer's two output projections (the
attention's and the feed-forward block's) are fitted again by least squares so that, on examples of the
data, what the pruned layer adds to its residual stream brings the stream back to the original's there
(Kwon et al. 2022 tune one scale per kept head and neuron the same way; here the whole projection is
fitted). Layers are refitted in order, each on the pruned model's own inputs, so a layer also makes up
for the error of those before it. The fit is pulled towards the pruned weights (ridge, RIDGE × the mean
of the inputs' squared norms): few examples then move the weights little (benchmarks/RESULTS.md: Hugging
Face). Only BERT-style encoders (heads.encoder_layers), whose blocks are `dense` → dropout →
`LayerNorm(· + residual)`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from studio.core.compress.channel_refit import ridge_fit, with_ones
from studio.core.compress.heads import encoder_layers, tokens

RIDGE = 1.0  # measured best of 0.001–10 on the benchmark's held-out sentences
REFIT_EXAMPLES = 256  # examples the prune step hands over: 32 fit worse, all 2,106 of the benchmark's little better
BLOCKS = ("attention.output", "output")  # the two `dense → LayerNorm(· + residual)` blocks of a BERT layer


def token_batches(example: dict, names: list[str], size: int = 32) -> tuple[list[list[torch.Tensor]], int | None]:
    """(batches of the example's arrays in the inputs' order, the attention mask's position): sentences of
    similar length together, each batch cut after its longest (padding the mask hides changes nothing)."""
    x = [np.ascontiguousarray(example[n]) for n in names]
    mask_at = names.index("attention_mask") if "attention_mask" in names else None
    order = np.argsort(-x[mask_at].sum(1), kind="stable") if mask_at is not None else np.arange(len(x[0]))
    batches = []
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        end = int(x[mask_at][rows].any(0).nonzero()[0].max()) + 1 if mask_at is not None and x[mask_at][rows].any() else x[0].shape[1]
        batches.append([torch.from_numpy(np.ascontiguousarray(a[rows][:, :end])) for a in x])
    return batches, mask_at


class _Stop(Exception):
    """Ends a forward pass once the first encoder layer's inputs have been seen."""


@torch.no_grad()
def refit_encoder(student: torch.nn.Module, teacher: torch.nn.Module, batches: Iterable[list[torch.Tensor]],
                  mask_at: int | None, ridge: float = RIDGE) -> int:
    """Refits, in place, the output projections of every encoder layer of `student` (a module taking the
    batches' tensors positionally, holding a pruned copy of `teacher`'s encoder) to `teacher`'s residual
    streams on the batches; `mask_at`: the position of the attention mask among the inputs (its zeros
    are padding, left out of the fit), None without one. Each layer runs on the states the one before
    it gave, with the arguments the model passed it (the attention mask in the form it wants), so every
    layer runs a few times, not the whole model per layer; sums over the tokens are kept, not the tokens.
    Returns how many projections were refitted."""
    batches = list(batches)
    s_layers = [m for _, m in encoder_layers(getattr(student, "model", student))]
    t_layers = [m for _, m in encoder_layers(getattr(teacher, "model", teacher))]
    if not s_layers or len(s_layers) != len(t_layers):
        return 0
    masks = [batch[mask_at] if mask_at is not None else None for batch in batches]
    s_calls = [_first_call(student, s_layers[0], batch) for batch in batches]
    t_calls = [_first_call(teacher, t_layers[0], batch) for batch in batches]
    for s_layer, t_layer in zip(s_layers, t_layers):
        wanted = [_run(t_layer, call, [b.LayerNorm for b in _blocks(t_layer)]) for call in t_calls]
        for at, block in enumerate(_blocks(s_layer)):
            gram = cross = None
            for call, mask, streams in zip(s_calls, masks, wanted):
                x, residual = _run(s_layer, call, [block])[1][0][:2]
                xa = with_ones(_tokens(x, mask), block.dense)
                part = xa.T @ (_tokens(streams[1][at][0], mask) - _tokens(residual, mask))
                gram, cross = (xa.T @ xa, part) if gram is None else (gram + xa.T @ xa, cross + part)
            ridge_fit(block.dense, gram, cross, ridge)
        s_calls = [_next(call, _run(s_layer, call, [])[0]) for call in s_calls]
        t_calls = [_next(call, out) for call, (out, _) in zip(t_calls, wanted)]
    return len(s_layers) * len(BLOCKS)


def _blocks(layer: torch.nn.Module) -> list[torch.nn.Module]:
    return [layer.get_submodule(path) for path in BLOCKS]


def _first_call(model: torch.nn.Module, layer: torch.nn.Module, batch: list[torch.Tensor]) -> tuple[tuple, dict]:
    """The (args, kwargs) `layer` is called with when `model` runs on the batch; the pass stops there."""
    seen = []

    def stop(_m, args, kwargs):
        seen.append((args, kwargs))
        raise _Stop

    hook = layer.register_forward_pre_hook(stop, with_kwargs=True)
    try:
        model(*batch)
    except _Stop:
        pass
    finally:
        hook.remove()
    return seen[0]


def _run(layer: torch.nn.Module, call: tuple[tuple, dict], modules: list[torch.nn.Module]) -> tuple[torch.Tensor, list]:
    """(the layer's output hidden states, the positional inputs each of `modules` got) for one call."""
    seen = [None] * len(modules)
    hooks = [m.register_forward_pre_hook(lambda _m, args, i=i: seen.__setitem__(i, args)) for i, m in enumerate(modules)]
    try:
        out = layer(*call[0], **call[1])
    finally:
        for h in hooks:
            h.remove()
    return (out[0] if isinstance(out, (tuple, list)) else out), seen


def _next(call: tuple[tuple, dict], hidden: torch.Tensor) -> tuple[tuple, dict]:
    """The call with its hidden states replaced (the first argument, or `hidden_states`)."""
    args, kwargs = call
    return ((hidden, *args[1:]), kwargs) if args else ((), {**kwargs, "hidden_states": hidden})


def _tokens(t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return tokens(t, mask).double()  # the sums of many tokens' products are kept in double
