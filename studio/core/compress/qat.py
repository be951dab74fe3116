"""Quantization-aware training: the float model is fine-tuned while its Conv and Linear layers see
their weights and inputs as static quantization will round them, then quantized by ONNX Runtime's static
QDQ quantizer like any other version.

The fake quantization mirrors what the studio's static int8 does in ONNX Runtime: weights per output
channel, symmetric, int8 or int4 (bits: 4; the rounding uses a straight-through gradient); a layer's
input per tensor, uint8, over the range calibration finds on the train split (MinMax), fixed while
training. Trained with labels, or without them by distillation from the float version. Pruned weights
stay exactly zero (train's masks). The trained weights are left on the int8 (int4) grid, so ONNX
Runtime's quantization of them loses nothing more: int8 by static int8 as it is, int4 by int4.py, which
hands ORT the trained scales and writes INT4 weights at opset 21."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch.nn.utils import parametrize

from studio.core.compress.conversion import trainable_version
from studio.core.compress.finetune import evaluator, splits
from studio.core.compress.int4 import int4_opset, quantize_int4
from studio.core.compress.quantize import quantize
from studio.core.compress.train import copy_module, train
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.metrics import class_output
from studio.core.evaluate.runtime import predict, predict_module
from studio.core.formats.model import Model
from studio.core.inspect.graph_onnx import light_copy
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress, offset

QUANTIZED = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)
UNLABELED_TEMPERATURE = 2.0
BITS = (8, 4)


class WeightFakeQuant(torch.nn.Module):
    """Per output channel, symmetric: scale = max |w| / (2^(bits−1) − 1), as ONNX Runtime's int8 weights."""

    def __init__(self, bits: int):
        super().__init__()
        self.top = 2 ** (bits - 1) - 1

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        scale = w.detach().abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp(min=1e-12) / self.top
        return w + ((w / scale).round().clamp(-self.top, self.top) * scale - w).detach()  # straight-through


def qat(model: Model, data: DataSet, *, bits: int = 8, epochs: int = 2, lr: float = 1e-4, samples: int = 256,
        teacher: Model | None = None, device: str = "cpu", cancel: CancelToken = NO_CANCEL) -> Job[Model]:
    """A static QDQ ONNX version of `model` with int8 (bits: 8) or int4 (bits: 4) weights and uint8
    activations, trained for `epochs` with fake quantization first."""
    if bits not in BITS:
        raise StudioError(f"quantize.bits: quantization-aware training makes 8- or 4-bit weights (bits: 8 or 4), not {bits}")
    if bits == 4 and model.onnx is not None:  # refused before training when the graph cannot reach opset 21
        int4_opset(light_copy(model.onnx), model.source)
    teacher = teacher or model
    model = yield from trainable_version(model, data, device, refused="quantization-aware training trains the model: ")
    train_set, test_set = splits(model, data)
    if not data.labeled:
        yield Progress(0, 3, "computing the float model's outputs")
    output = class_output(model, data)
    teacher_output = class_output(teacher, data)
    reference = predict(teacher, test_set.shaped_for(teacher.inputs).x, device, output=teacher_output)
    soft = None if data.labeled else predict(teacher, train_set.shaped_for(teacher.inputs).x, device, output=teacher_output)
    module = copy_module(model.module).cpu().eval()
    layers = [m for m in module.modules() if isinstance(m, QUANTIZED)]
    if not layers:
        raise StudioError(f"no Conv or Linear layer to train for int{bits}", model.source)
    xs = list(train_set.x.values())
    yield Progress(0, 3, f"calibrating the inputs of {len(layers)} layers")
    ranges = _input_ranges(module, layers, [a if a.ndim == 0 else a[:samples] for a in xs])
    hooks = [layer.register_forward_pre_hook(_input_fake_quant(*ranges[layer])) for layer in layers]
    for layer in layers:
        parametrize.register_parametrization(layer, "weight", WeightFakeQuant(bits))
    try:
        job = train(module, xs, train_set.y, soft, epochs=epochs, lr=lr, temperature=UNLABELED_TEMPERATURE, alpha=0.0,
                    device=device, cancel=cancel, evaluate=evaluator(test_set, reference, device, output), output=output,
                    frozen_norms=True)
        module = yield from offset(job, 0, 3, "quantization-aware training: ", span=2)
    finally:
        for hook in hooks:
            hook.remove()
    module = module.cpu()
    for layer in layers:
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)  # the weights on the int8 (int4) grid
    said = f"quantization-aware training: {epochs} epochs, lr {lr:g}" + (", 4-bit weights" if bits == 4 else "")
    trained = replace(model, module=module.eval(), notes=[*model.notes, said])
    if bits == 4:
        return (yield from offset(quantize_int4(trained, data, samples=samples, cancel=cancel), 2, 3, "int4 weights: "))
    return (yield from offset(quantize(trained, data, mode="static", samples=samples, tolerance=None, device=device, cancel=cancel),
                              2, 3, "static int8: "))


def _input_ranges(module: torch.nn.Module, layers: list[torch.nn.Module], xs: list[np.ndarray]) -> dict:
    """(low, high) of each layer's input over the calibration examples, 0 included (MinMax, as ORT)."""
    seen = {layer: [0.0, 0.0] for layer in layers}

    def record(layer, args):
        lo, hi = seen[layer]
        seen[layer] = [min(lo, float(args[0].min())), max(hi, float(args[0].max()))]

    hooks = [layer.register_forward_pre_hook(record) for layer in layers]
    try:
        predict_module(module, xs)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def _input_fake_quant(low: float, high: float):
    """A pre-hook rounding a layer's input as uint8 over [low, high] (straight-through gradient)."""
    scale = max(high - low, 1e-12) / 255
    zero = int(round(-low / scale))

    def hook(_layer, args):
        return (torch.fake_quantize_per_tensor_affine(args[0], scale, zero, 0, 255), *args[1:])

    return hook
