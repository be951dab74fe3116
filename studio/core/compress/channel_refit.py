"""After Torch-Pruning removes channels, each convolution and linear layer is fitted again by least squares
so that, on examples of the data, its kept output channels give what the original layer's gave (He et al.
2017's channel pruning reconstructs each layer the same way). The layers are refitted in the order the
model runs them, in one pass: each is fitted on the inputs the already refitted layers before it give, so
it also makes up for their error. The fit is pulled towards the pruned weights (ridge, RIDGE × the mean
of the inputs' squared norms). Convolutions are fitted on POSITIONS output positions sampled from the
examples (a window of the input each), linear layers on as many rows. Grouped and depthwise convolutions
keep their weights (each channel sees only its own). refit_checked undoes a refit that brings the model's
outputs on the examples further from the original's. benchmarks/RESULTS.md (channels removed from ONNX
models) has what it buys on the corpus."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.errors import first_line
from studio.core.evaluate.metrics import fidelity

RIDGE = 0.1  # 0.01 and 1.0 fitted PP-OCR det's held-out images worse
POSITIONS = 4096  # sampled output positions (or rows) per layer
REFIT_ELEMENTS = 8_000_000  # input numbers of the examples refitted on: one pass holds them all
FITTED = (torch.nn.Conv2d, torch.nn.Linear)


def record_kept(pruner) -> dict[torch.nn.Module, list[int]]:
    """Runs the MetaPruner's step group by group and returns, for every Conv2d and Linear whose output
    channels it removed, the original indices of the channels that remain."""
    kept: dict[torch.nn.Module, list[int]] = {}
    for group in pruner.step(interactive=True):
        for dep, idxs in group:
            m = dep.target.module
            if isinstance(m, FITTED) and pruner.DG.is_out_channel_pruning_fn(dep.handler):
                now = kept.setdefault(m, list(range(_width(m))))
                drop = {int(i) for i in idxs}
                kept[m] = [k for j, k in enumerate(now) if j not in drop]
        group.prune()
    return kept


def refit_layers(pruned: torch.nn.Module, original: torch.nn.Module, kept: dict[torch.nn.Module, list[int]],
                 example: list, ridge: float = RIDGE, seed: int = 0) -> int:
    """Refits, in place, the Conv2d and Linear layers of `pruned` (a copy of `original`, its modules named
    alike, channels removed; `kept`: record_kept's indices) to `original`'s outputs on `example` (the
    inputs, positional). Returns how many layers were refitted."""
    names = {m: n for n, m in pruned.named_modules()}
    layers = {n: m for n, m in pruned.named_modules() if _fittable(m)}
    mine = dict(original.named_modules())
    generator = torch.Generator().manual_seed(seed)
    wanted: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def target(name):
        def hook(m, _inputs, out):
            rows = _rows(out, m)
            picked = torch.randint(len(rows), (min(POSITIONS, len(rows)),), generator=generator)
            wanted[name] = (picked, rows[picked].double())
        return hook

    _hooked(original, example, [mine[n].register_forward_hook(target(n)) for n in layers if n in mine and type(mine[n]) is type(layers[n])])
    done = []

    def fit(module, inputs):
        name = names[module]
        if name not in wanted:
            return
        picked, t = wanted.pop(name)  # a module called twice is fitted on its first call
        index = kept.get(module)
        t = t[:, index] if index is not None else t
        if t.shape[1] != _width(module):
            return
        x = _windows(inputs[0], module, picked) if isinstance(module, torch.nn.Conv2d) else _rows(inputs[0], module)[picked].double()
        if x is None or len(x) != len(t):
            return
        x = with_ones(x, module)
        ridge_fit(module, x.T @ x, x.T @ t, ridge)
        done.append(name)

    _hooked(pruned, example, [m.register_forward_pre_hook(fit) for m in layers.values()])
    return len(done)


def _hooked(model: torch.nn.Module, example: list, hooks: list) -> None:
    """One forward pass of `model` on the example with `hooks` on, removed after it."""
    try:
        with torch.no_grad():
            model(*example)
    finally:
        for h in hooks:
            h.remove()


def refit_checked(module: torch.nn.Module, original: torch.nn.Module, batches: list, refit: Callable[[], int]) -> tuple | str:
    """Runs `refit` (which refits `module` in place and returns how many layers it refitted) and keeps what
    it did only where it brings the module's outputs on the batches closer to the original's. Returns
    (layers refitted, cosine before, cosine after), or why nothing was kept (the module as it was)."""
    before = outputs_cosine(module, original, batches)
    if before is None:
        return "the outputs changed shape"
    state = {k: v.clone() for k, v in module.state_dict().items()}
    try:
        count = refit(),
    except Exception as e:  # a layer or block laid out otherwise than the refit expects: the pruned model stands
        module.load_state_dict(state)
        return f"the refit failed ({first_line(e)})"
    after = outputs_cosine(module, original, batches) if count[0] else before
    if after is None or after < before:
        module.load_state_dict(state)
        return f"refitting brought the outputs on {sum(_examples(b) for b in batches)} examples further from the original's"
    return count[0], before, after


def _examples(batch: list) -> int:
    return len(batch[0]) if batch and getattr(batch[0], "ndim", 0) else 1


def outputs_cosine(module: torch.nn.Module, original: torch.nn.Module, batches: list) -> float | None:
    """The cosine of the two modules' first outputs as the window reports it (metrics.fidelity), over the
    batches' examples; None where their shapes differ."""
    total = count = 0.0
    with torch.no_grad():
        for b in batches:
            mine, theirs = _first(module(*b)), _first(original(*b))
            if mine.shape != theirs.shape:
                return None
            total += fidelity(mine, theirs)["cosine"] * len(mine)
            count += len(mine)
    return total / max(count, 1)


def _first(out) -> np.ndarray:
    return (out[0] if isinstance(out, (tuple, list)) else out).numpy()


def _fittable(m: torch.nn.Module) -> bool:
    if isinstance(m, torch.nn.Linear):
        return True
    return (isinstance(m, torch.nn.Conv2d) and m.groups == 1 and m.padding_mode == "zeros"
            and (not isinstance(m.padding, str) or m.padding == "valid"))


def _width(m: torch.nn.Module) -> int:
    return m.out_channels if isinstance(m, torch.nn.Conv2d) else m.out_features


def _rows(t: torch.Tensor, layer: torch.nn.Module) -> torch.Tensor:
    """A layer's output (or a linear layer's input) as [positions, channels]: a convolution's channels are
    its second axis, a linear layer's its last."""
    return t.movedim(1, -1).reshape(-1, t.shape[1]) if isinstance(layer, torch.nn.Conv2d) else t.reshape(-1, t.shape[-1])


def _windows(x: torch.Tensor, conv: torch.nn.Conv2d, picked: torch.Tensor) -> torch.Tensor | None:
    """The input windows behind the output positions `picked` (flat over batch × height × width), each
    flattened in the weight's (in channel, row, column) order."""
    if x.dim() != 4:
        return None
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    ph, pw = (0, 0) if isinstance(conv.padding, str) else conv.padding
    height = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    width = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    padded = F.pad(x, (pw, pw, ph, ph))
    n, at = picked // (height * width), picked % (height * width)
    y, x0 = at // width * sh, at % width * sw
    taps = [padded[n, :, y + i * dh, x0 + j * dw] for i in range(kh) for j in range(kw)]  # each [positions, in channels]
    return torch.stack(taps, -1).reshape(len(picked), -1).double()


def with_ones(x: torch.Tensor, layer: torch.nn.Module) -> torch.Tensor:
    """x with a column of ones where the layer has a bias (fitted with the weights)."""
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1) if layer.bias is not None else x


def ridge_fit(layer: torch.nn.Module, gram: torch.Tensor, cross: torch.Tensor, ridge: float) -> None:
    """layer's weight (and bias) := argmin ‖x·Wᵀ − t‖² + λ‖W − W₀‖² given gram = xᵀx and cross = xᵀt (x with_ones),
    λ = ridge × the mean of gram's diagonal; W₀ the layer's weights now, flattened per output channel."""
    w0 = layer.weight.detach().reshape(len(layer.weight), -1).double()
    if layer.bias is not None:
        w0 = torch.cat([w0, layer.bias.detach().double()[:, None]], 1)
    lam = ridge * gram.diagonal().mean().clamp(min=1e-12)
    w = torch.linalg.solve(gram + lam * torch.eye(len(gram), dtype=gram.dtype), cross + lam * w0.T).T
    with torch.no_grad():
        layer.weight.copy_(w[:, : layer.weight[0].numel()].reshape(layer.weight.shape).to(layer.weight.dtype))
        if layer.bias is not None:
            layer.bias.copy_(w[:, -1].to(layer.bias.dtype))
