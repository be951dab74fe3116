"""Which layers hurt most when quantized, and keeping those float.

Each weighted layer is quantized on its own (everything else float) by the same ORT quantizer and
settings, and the model's outputs are compared with the float model's on a subset of the test split:
the error a layer contributes, ranked worst first. Static calibration in these trials uses a smaller
sample. Keeping the top layers float then excludes them from the final quantization."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import onnx

from studio.core.compress.quantize_ort import Prepared, Settings, aliases, prepared, quantize_prepared
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.metrics import accuracy, class_output, fidelity, is_embedding
from studio.core.evaluate.runtime import predict
from studio.core.formats.model import Model
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress, offset

EXAMPLES = 256  # test examples each trial is measured on
TRIAL_SAMPLES = 64  # static calibration examples per trial


@dataclass
class LayerSensitivity:
    layer: str  # node name in the float ONNX graph
    op_type: str
    sqnr_db: float  # of the model's outputs with only this layer quantized; lower hurts more
    cosine: float
    agreement: float
    accuracy: float | None  # with labels


@dataclass
class QuantSensitivity:
    mode: str
    metric: str  # "accuracy" with labels, "agreement" with the float model without
    float_score: float
    quantized_score: float  # every layer quantized
    layers: list[LayerSensitivity]  # the layer that hurts most first

    def most_sensitive(self, n: int) -> list[str]:
        return [r.layer for r in self.layers[:n]]

    def rows(self) -> list[dict]:
        return [asdict(r) for r in self.layers]


class Probe:
    """The float model's outputs on a test subset, and scores of a quantized proto against them."""

    def __init__(self, prep: Prepared, data: DataSet, device: str):
        test = data.test().shaped_for(prep.model.inputs).subset(slice(0, EXAMPLES))
        self.model, self.x, self.y, self.device = prep.model, test.x, test.y, device
        self.output = class_output(prep.model, test)
        self.reference = predict(prep.model, test.x, device, output=self.output)
        self.metric = "accuracy" if test.labeled else "agreement"
        self.classes = not is_embedding(prep.model, self.output)

    def outputs(self, proto: onnx.ModelProto) -> np.ndarray:
        return predict(replace(self.model, onnx=proto), self.x, self.device, output=self.output)

    def loss(self, proto: onnx.ModelProto) -> float:
        """What the quantized proto loses of the float model's score (accuracy, or agreement with it)."""
        return self.score(self.reference) - self.score(self.outputs(proto))

    def score(self, logits: np.ndarray) -> float:
        return accuracy(logits, self.y) if self.y is not None else fidelity(logits, self.reference, self.classes)["agreement"]


def quant_sensitivity(model: Model, data: DataSet, settings: Settings = Settings(), exclude: list[str] = (),
                      device: str = "cpu", cancel: CancelToken = NO_CANCEL) -> Job[QuantSensitivity]:
    """The ranking on its own, for a window's table."""
    yield Progress(0, 1, "preparing the model")
    with prepared(model, settings.mode) as prep:
        names = prep.resolve(list(exclude))
        ranking, _ = yield from rank_layers(prep, data, settings, names, Probe(prep, data, device), cancel)
    return ranking


def rank_layers(prep: Prepared, data: DataSet, settings: Settings, exclude: list[str], probe: Probe,
                cancel: CancelToken = NO_CANCEL) -> Job[tuple[QuantSensitivity, onnx.ModelProto]]:
    """The ranking, and the fully quantized proto (every layer but the excluded ones) made on the way."""
    nodes = {n.name: n for n in prep.proto.graph.node}
    layers = [(name, op) for name, op in prep.layers() if name not in exclude]
    trial = replace(settings, samples=min(settings.samples, TRIAL_SAMPLES))
    rows = []
    for i, (name, op) in enumerate(layers):
        cancel.check()
        others = [a for other, node in nodes.items() if other != name for a in aliases(node)]
        logits = probe.outputs(quantize_prepared(prep, trial, others, data, cancel, name="trial"))
        f = fidelity(logits, probe.reference, probe.classes)
        rows.append(LayerSensitivity(name, op, f["sqnr_db"], f["cosine"], f["agreement"],
                                     accuracy(logits, probe.y) if probe.y is not None else None))
        yield Progress(i + 1, len(layers) + 1, f"{name} quantized alone: SQNR {f['sqnr_db']:.1f} dB", {"sqnr_db": f["sqnr_db"]})
    full = quantize_prepared(prep, settings, exclude, data, cancel)
    ranking = QuantSensitivity(settings.mode, probe.metric, probe.score(probe.reference),
                               probe.score(probe.outputs(full)), sorted(rows, key=lambda r: r.sqnr_db))
    yield Progress(len(layers) + 1, len(layers) + 1, "layers ranked")
    return ranking, full


def keep_sensitive_float(prep: Prepared, data: DataSet, settings: Settings, exclude: list[str], keep_float: int,
                         max_drop: float | None = None, device: str = "cpu",
                         cancel: CancelToken = NO_CANCEL) -> Job[tuple[onnx.ModelProto, list[str]]]:
    """Quantize with the `keep_float` most sensitive layers float; with max_drop, as few of them as keep
    the score within max_drop of the float model's; when none does, the count that lost least (keeping
    layers float does not always help: activations of layers without weights stay int8). Returns the
    proto and the layers kept float."""
    probe = Probe(prep, data, device)
    ranking, proto = yield from offset(rank_layers(prep, data, settings, exclude, probe, cancel), 0, 2, "ranking layers: ")
    order = ranking.most_sensitive(keep_float)
    nodes = {n.name: n for n in prep.proto.graph.node}
    best = None
    for k in [len(order)] if max_drop is None else range(len(order) + 1):
        cancel.check()
        if k:
            kept = [a for name in order[:k] for a in aliases(nodes[name])]
            proto = quantize_prepared(prep, settings, exclude + kept, data, cancel)
        yield Progress(1 + k / max(len(order), 1), 2, f"{k} layers kept float")
        if max_drop is None:
            return proto, order[:k]
        loss = ranking.float_score - probe.score(probe.outputs(proto))
        if loss <= max_drop:
            return proto, order[:k]
        if best is None or loss < best[0]:
            best = (loss, proto, order[:k])
    return best[1], best[2]
