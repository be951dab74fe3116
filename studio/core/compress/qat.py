"""Quantization-aware training: the float model is fine-tuned while it sees its weights and activations
as static quantization will round them, then quantized by ONNX Runtime's static QDQ quantizer like any
other version.

The weights: per output channel, symmetric, int8 or int4 (bits: 4), rounded with a straight-through
gradient, as ONNX Runtime rounds them. The activations: a model given as ONNX rounds exactly the tensors
ORT's static int8 of the float model rounds (every activation, or only the layers' when rounding every one
loses too much), on the very uint8 grids it calibrated, and the final quantization is handed those grids
(qat_graph); a PyTorch module, whose exported graph has no place in it
to name, rounds its Conv and Linear layers' inputs per tensor, uint8, over the range calibration finds on
the train split (MinMax). The grids stay fixed while training. Trained with labels, or without them by
distillation from the float version. Pruned weights stay exactly zero (train's masks). The trained
weights are left on the int8 (int4) grid, so ONNX Runtime's quantization of them loses nothing more: int8
by static int8 as it is, int4 by int4.py, which hands ORT the trained scales and writes INT4 weights at
opset 21."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import torch
from torch.nn.utils import parametrize

from studio.core.compress import qat_graph
from studio.core.compress.conversion import trainable_version
from studio.core.compress.finetune import Closest, evaluator, splits
from studio.core.compress.int4 import int4_opset, quantize_int4
from studio.core.compress.quantize import TOLERANCE, check_calibration, quantize
from studio.core.compress.quantize_ort import Settings, prepared, quantize_prepared
from studio.core.compress.quantize_sensitivity import Probe
from studio.core.compress.train import copy_module, train
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.metrics import class_output, is_embedding
from studio.core.evaluate.runtime import predict, predict_module
from studio.core.formats.model import CONTROL_FLOW, Model
from studio.core.inspect.graph_onnx import light_copy
from studio.core.inspect.precision import quantized_ops
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress, offset

QUANTIZED = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)
UNLABELED_TEMPERATURE = 2.0
# below this many training examples QAT fits them and loses elsewhere: a PP-OCR text recogniser went from
# cosine 0.955 to 0.911 on held-out lines trained on 13, from 0.881 to 0.971 on 320 (benchmarks/RESULTS.md)
FEW_EXAMPLES = 100
BITS = (8, 4)


class WeightFakeQuant(torch.nn.Module):
    """Per output channel, symmetric: scale = max |w| / (2^(bits−1) − 1), as ONNX Runtime's int8 weights;
    reduced: ±64, its 7-bit int8 weights (where its int8 kernels saturate, saturation.py)."""

    def __init__(self, bits: int, reduced: bool = False):
        super().__init__()
        self.top = 64 if reduced else 2 ** (bits - 1) - 1

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        scale = w.detach().abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp(min=1e-12) / self.top
        return w + ((w / scale).round().clamp(-self.top, self.top) * scale - w).detach()  # straight-through


def qat(model: Model, data: DataSet, *, bits: int = 8, epochs: int = 2, lr: float = 1e-4, samples: int = 256,
        calibration: str = "minmax", teacher: Model | None = None, device: str = "cpu",
        cancel: CancelToken = NO_CANCEL) -> Job[Model]:
    """A static QDQ ONNX version of `model` with int8 (bits: 8) or int4 (bits: 4) weights and uint8
    activations, trained for `epochs` with fake quantization first. `calibration`: how ORT's static int8
    finds the activations' ranges (an ONNX model trains on the grids it finds)."""
    if bits not in BITS:
        raise StudioError(f"quantize.bits: quantization-aware training makes 8- or 4-bit weights (bits: 8 or 4), not {bits}")
    check_calibration(calibration)  # before training, not after it when the ranges are calibrated
    if bits == 4 and model.onnx is not None:  # refused before training when the graph cannot reach opset 21
        int4_opset(light_copy(model.onnx), model.source)
    teacher = teacher or model
    grids, weightless, chose = None, True, ""
    if model.onnx is not None:  # the graph ORT runs: its static int8 says which tensors it rounds, and how
        job = _static_int8(model, data, calibration, samples, device, cancel)
        float_int8, weightless, chose = yield from offset(job, 0, 3, "static int8 of the float model: ", span=0.2, metrics=False)
        if not any(op.precision != "float" for op in quantized_ops(float_int8)):
            inside = " (they sit in If, Loop or Scan branches, which its QDQ quantizer leaves float)" if any(
                n.op_type in CONTROL_FLOW for n in float_int8.graph.node) else ""
            raise StudioError(f"quantization-aware training: ONNX Runtime's static int8 rounds none of this model's layers{inside}, "
                              "so training for it cannot make it smaller; fp16 halves it", model.source)
        grids = qat_graph.activation_grids(float_int8)
    model = yield from trainable_version(model, data, device, refused="quantization-aware training trains the model: ")
    train_set, test_set = splits(model, data)
    if not data.labeled:
        yield Progress(0.2, 3, "computing the float model's outputs")
    output = class_output(model, data)
    teacher_output = class_output(teacher, data)
    reference = predict(teacher, test_set.shaped_for(teacher.inputs).x, device, output=teacher_output)
    soft = None if data.labeled else predict(teacher, train_set.shaped_for(teacher.inputs).x, device, output=teacher_output)
    module = copy_module(model.module).cpu().eval()
    layers = [m for m in module.modules() if isinstance(m, QUANTIZED)]
    if not layers:
        raise StudioError(f"no Conv or Linear layer to train for int{bits}", model.source)
    xs = list(train_set.x.values())
    hooks, placed = [], []
    if grids is not None and model.origin is not None:
        placed = qat_graph.insert(module, model.origin.proto.graph, grids)
        rounded = f"the {len(placed)} activations ONNX Runtime rounds" + (
            f" ({len(grids) - len(placed)} more, made by its pre-processing, calibrated after training)" if len(placed) < len(grids) else "")
    else:
        yield Progress(0.2, 3, f"calibrating the inputs of {len(layers)} layers")
        ranges = _input_ranges(module, layers, [a if a.ndim == 0 else a[:samples] for a in xs])
        hooks = [layer.register_forward_pre_hook(_input_fake_quant(*ranges[layer])) for layer in layers]
        rounded = f"the inputs of its {len(layers)} Conv and Linear layers"
    reduced = bits == 8 and Settings("static").seven_bit  # the grid static int8 will round them to (7 bits where kernels saturate)
    for layer in layers:
        parametrize.register_parametrization(layer, "weight", WeightFakeQuant(bits, reduced=reduced))
    evaluate = evaluator(test_set, reference, device, output, not is_embedding(model, output))
    # without labels, the rounded model closest to the float one on the training examples is kept: the
    # one before training (plain static int8) too, when training only takes it further away
    closest = None if soft is None else Closest(xs, soft, device, output)
    if closest is not None:
        closest.check(module)
        evaluate = closest.checking(evaluate)
    try:
        job = train(module, xs, train_set.y, soft, epochs=epochs, lr=lr, temperature=UNLABELED_TEMPERATURE, alpha=0.0,
                    device=device, cancel=cancel, evaluate=evaluate, output=output, frozen_norms=True)
        module = yield from offset(job, 0.2, 3, "quantization-aware training: ", span=1.8)
        if closest is not None:
            closest.restore(module)
    finally:
        for hook in hooks:
            hook.remove()
    module = module.cpu()
    if placed:
        qat_graph.remove(module)
    for layer in layers:
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)  # the weights on the int8 (int4) grid
    said = f"quantization-aware training: {epochs} epochs, lr {lr:g}" + (", 4-bit weights" if bits == 4 else "") + f", rounding {rounded}" + chose
    if len(train_set) < FEW_EXAMPLES:
        said += (f"; it learnt from only {len(train_set)} examples, which it can fit and lose on others: "
                 "compare it with plain static int8 on the test split, and give it a few hundred examples")
    if closest is not None and closest.epoch < epochs:
        said += (f"; kept epoch {closest.epoch}, the closest to the float model on the training examples" if closest.epoch else
                 "; training did not bring the rounded model closer to the float one on the training examples: its weights are kept")
    trained = replace(model, module=module.eval(), notes=[*model.notes, said])
    fixed = qat_graph.overrides(grids, placed) if placed else None
    if bits == 4:
        return (yield from offset(quantize_int4(trained, data, samples=samples, calibration=calibration, activations=fixed,
                                                  weightless=weightless, cancel=cancel), 2, 3, "int4 weights: "))
    # trained on ORT's own grids, the result is quantized exactly so; a PyTorch module trained seeing only its
    # layers' inputs rounded, while ORT also rounds attention products and residual sums: static int8's
    # safety net then keeps float the layers that lose too much (a tiny BERT fell to chance without it)
    return (yield from offset(quantize(trained, data, mode="static", calibration=calibration, samples=samples,
                                       tolerance=None if fixed else TOLERANCE, overrides=fixed, weightless=weightless, device=device,
                                       cancel=cancel),
                              2, 3, "static int8: "))


def _static_int8(model: Model, data: DataSet, calibration: str, samples: int, device: str,
                 cancel: CancelToken) -> Job[tuple[onnx.ModelProto, bool, str]]:
    """ORT's static int8 of the float ONNX model, whose rounded activations QAT trains with: every activation,
    or, when that loses more than TOLERANCE on the test split and rounding only the layers' activations
    loses less, those (weightless False; the others stay float, as static int8's safety net keeps them).
    Training cannot win back what rounding the rest costs: PP-OCR's recogniser read 90 % of held-out lines
    after QAT of every activation, 94 % (the float model's share) after QAT of the layers' (benchmarks/RESULTS.md).
    Both are quantized from one prepared copy, so the second reuses the first's calibrated ranges."""
    settings = Settings("static", calibration, samples)
    yield Progress(0, 2, "the activations ONNX Runtime rounds")
    with prepared(model, "static", data.example_for(model.inputs)) as prep:
        every = quantize_prepared(prep, settings, [], data, cancel)
        if not len(data.test()):
            return every, True, ""
        probe = Probe(prep, data, device)
        loss = probe.loss(every)
        if loss <= TOLERANCE:
            return every, True, ""
        yield Progress(1, 2, f"every activation rounded loses {loss:.1%} of {probe.metric}: rounding only the layers' activations")
        layers = quantize_prepared(prep, replace(settings, weightless=False), [], data, cancel)
        left = probe.loss(layers)
    if left >= loss:
        return every, True, f" (only the layers' activations lost as much: {left:.1%} of {probe.metric} against {loss:.1%})"
    return layers, False, (f"; only the activations of layers with weights, the others float: static int8 of every activation lost "
                           f"{loss:.1%} of {probe.metric}, of the layers' activations only {left:.1%}")


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
