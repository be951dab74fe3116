"""Sensitivity analysis: prune one layer at a time to each sparsity level and measure what it costs,
then suggest per-layer sparsities that reach a global target while sparing the sensitive layers."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from studio.core.compress.prune import magnitude_masks
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.metrics import accuracy, class_output, fidelity, is_embedding
from studio.core.evaluate.runtime import predict
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import Model
from studio.core.inspect.prunable import prunable_onnx, prunable_torch
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress

LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
MAX_EXAMPLES = 1000


@dataclass
class Sensitivity:
    metric: str  # "accuracy" with labels, "agreement" (with the unpruned model) without
    baseline: float
    levels: tuple[float, ...]
    scores: dict[str, list[float]]  # layer → metric at each level
    sizes: dict[str, int]  # layer → prunable weights

    def suggest(self, target: float) -> dict[str, float]:
        """Per-layer sparsities whose weighted mean is `target` (or as close as the levels allow):
        the smallest tolerated loss δ such that every layer pruned as far as it stays within δ reaches
        the target, then scaled down to land on it."""
        total = sum(self.sizes.values())
        lo, hi = 0.0, max(self.baseline - min(min(s) for s in self.scores.values()), 0.0)
        for _ in range(40):
            mid = (lo + hi) / 2
            if self._overall(self._at(mid), total) >= target:
                hi = mid
            else:
                lo = mid
        chosen = self._at(hi)
        overall = self._overall(chosen, total)
        scale = target / overall if overall > target else 1.0
        return {layer: round(s * scale, 4) for layer, s in chosen.items()}

    def _at(self, tolerance: float) -> dict[str, float]:
        out = {}
        for layer, scores in self.scores.items():
            ok = [lvl for lvl, sc in zip(self.levels, scores) if sc >= self.baseline - tolerance - 1e-12]
            out[layer] = max(ok, default=0.0)
        return out

    def _overall(self, sparsities: dict[str, float], total: int) -> float:
        return sum(self.sizes[k] * s for k, s in sparsities.items()) / total if total else 0.0


def sensitivity(model: Model, data: DataSet, device: str = "cpu", levels=LEVELS,
                cancel: CancelToken = NO_CANCEL) -> Job[Sensitivity]:
    test = data.shaped_for(model.inputs).test()
    test = test.subset(slice(0, MAX_EXAMPLES))
    index = class_output(model, test)
    reference = predict(model, test.x, device, output=index)
    metric = "accuracy" if test.labeled else "agreement"

    def score(logits) -> float:
        return accuracy(logits, test.y) if test.labeled else fidelity(logits, reference, not is_embedding(model, index))["agreement"]

    baseline = score(reference)
    if model.onnx is not None:
        weights, run = _onnx_trials(model, test, device, index)
    else:
        weights, run = _torch_trials(model, test, device, index)
    total = len(weights) * len(levels)
    scores: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for i, (name, (layer, tensor)) in enumerate(weights.items()):
        sizes[layer] = sizes.get(layer, 0) + tensor.numel()
        row = []
        for j, level in enumerate(levels):
            cancel.check()
            mask = magnitude_masks({name: tensor}, level, scope="layer")[name]
            row.append(score(run(name, tensor * mask)))
            yield Progress(i * len(levels) + j + 1, total, f"{layer} at {level:.0%}", {metric: row[-1]})
        scores[layer] = row
    return Sensitivity(metric, baseline, tuple(levels), scores, sizes)


def _torch_trials(model: Model, test: DataSet, device: str, index: int):
    module = copy.deepcopy(model.module)  # trials never touch the version being analysed
    params = prunable_torch(module)
    weights = {n: (n.rsplit(".", 1)[0], p.detach().clone()) for n, p in params.items()}

    def run(name, value):
        original = params[name].detach().clone()
        with torch.no_grad():
            params[name].copy_(value)
        try:
            return predict(Model(model.source, model.format, model.inputs, module=module), test.x, device, output=index)
        finally:
            with torch.no_grad():
                params[name].copy_(original)

    return weights, run


def _onnx_trials(model: Model, test: DataSet, device: str, index: int):
    proto = onnx.ModelProto()
    proto.CopyFrom(full_onnx(model))
    inits = {t.name: t for t in proto.graph.initializer}
    names = prunable_onnx(proto)
    weights = {n: (layer, torch.from_numpy(numpy_helper.to_array(inits[n]).copy())) for n, layer in names.items()}

    def run(name, value):
        original = onnx.TensorProto()
        original.CopyFrom(inits[name])
        inits[name].CopyFrom(numpy_helper.from_array(value.numpy().astype(np.float32), name))
        try:
            return predict(Model(model.source, model.format, model.inputs, onnx=proto), test.x, device, output=index)
        finally:
            inits[name].CopyFrom(original)

    return weights, run
