"""Rebuild a pruned PyTorch module from its architecture and a state_dict: layers whose channels were
removed are re-created at their new sizes, so a saved version loads without pickles."""

from __future__ import annotations

import torch
from torch import nn


def fit_to_state_dict(module: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Resize Linear, Conv, BatchNorm, LayerNorm and Embedding layers to the shapes in `state`, then load it."""
    for name, sub in list(module.named_modules()):
        key = f"{name}.weight" if name else "weight"
        if key not in state:
            continue
        new = _resized(sub, state[key].shape)
        if new is not None:
            _replace(module, name, new)
    module.load_state_dict(state)
    return module


def _resized(sub: nn.Module, shape: torch.Size) -> nn.Module | None:
    if isinstance(sub, nn.Linear) and tuple(sub.weight.shape) != tuple(shape):
        return nn.Linear(shape[1], shape[0], bias=sub.bias is not None)
    if isinstance(sub, nn.modules.conv._ConvNd) and tuple(sub.weight.shape) != tuple(shape):
        depthwise = sub.groups == sub.in_channels and sub.groups > 1
        groups = shape[0] if depthwise else sub.groups
        cls = type(sub)
        return cls(shape[1] * groups, shape[0], sub.kernel_size, sub.stride, sub.padding, sub.dilation, groups,
                   sub.bias is not None, sub.padding_mode)
    if isinstance(sub, nn.modules.batchnorm._BatchNorm) and sub.num_features != shape[0]:
        return type(sub)(shape[0], sub.eps, sub.momentum, sub.affine, sub.track_running_stats)
    if isinstance(sub, nn.LayerNorm) and tuple(sub.normalized_shape) != tuple(shape):
        return nn.LayerNorm(tuple(shape), sub.eps, sub.elementwise_affine)
    if isinstance(sub, nn.Embedding) and tuple(sub.weight.shape) != tuple(shape):
        return nn.Embedding(shape[0], shape[1], sub.padding_idx)
    return None


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)
