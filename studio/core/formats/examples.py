"""Example inputs for tracing and exporting a PyTorch model."""

from __future__ import annotations

import torch

from studio.core.errors import StudioError
from studio.core.formats.model import Model


def example_inputs(model: Model) -> tuple[torch.Tensor, ...]:
    if not model.input_shapes_known:
        raise StudioError("needs the model's input shape: give it with --input-shape", model.source)
    return tuple(torch.zeros(*(d if isinstance(d, int) else 1 for d in s.shape)) for s in model.inputs)
