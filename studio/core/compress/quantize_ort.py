"""ONNX Runtime's quantizers as small named units in MODES (int8 dynamic and static QDQ, fp16, 4/8-bit
weight-only), run on a prepared ONNX copy of the model; exclusions reach ORT as node names (`nodes_to_exclude`)."""

from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter

from studio.core.compress.saturation import saturates
from studio.core.errors import StudioError, first_line
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.feeds import batches
from studio.core.evaluate.runtime import ort_errors_only, ort_session
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import Model
from studio.core.formats.onnx_constants import constants_to_initializers
from studio.core.formats.to_onnx import quiet, to_onnx
from studio.core.inspect.layers import LAYER_OPS
from studio.core.inspect.precision import already_quantized
from studio.core.inspect.prunable import excluded
from studio.core.process.jobs import NO_CANCEL, Cancelled, CancelToken

CALIBRATIONS = ("minmax", "entropy", "percentile")
# ORT's memory grows with the batch it calibrates on, and its time too (benchmarks/results/calibration.md)
CALIBRATION_BATCH = 8
WEIGHT_ONLY_BLOCK = 32  # weights per scale: ORT's MatMulNBits block size
WEIGHTED_OPS = LAYER_OPS | {"Gather"}  # what static int8 quantizes when operators without weights stay float (Gather: embeddings)
# a calibrated value this far from 0 stands for −∞ (an attention mask's float32 lowest, added to the scores):
# 256 steps over such a range round every ordinary value to one (all-MiniLM-L6-v2's static int8: cosine 0.44)
UNBOUNDED = 1e30
# fp16 keeps float the operators whose values on the data pass a quarter of its largest number (65504): room for
# examples beyond those seen. openWakeWord's mel spectrogram squares STFT magnitudes of 5.6e5 (3e11): in fp16 they
# became inf and its every output NaN
FP16_SAFE = 65504 / 4
FP16_EXAMPLES = 32  # examples the float model runs on to find them (every value of every node is kept per batch)


@dataclass(frozen=True)
class Settings:
    mode: str = "dynamic"
    calibration: str = "minmax"  # static only
    samples: int = 256  # static only: calibration examples from the train split
    per_channel: bool = True  # one scale per output channel: closer to float (benchmarks/results/quantize.md), ~3 % larger
    bits: int = 4  # weights-only only
    weightless: bool = True  # static only: also the activations of operators without weights (Add, Pow, Resize…)
    extra_options: dict | None = None  # static only: more of ORT's options (QAT's int4 weights with their trained scales, int4.py)
    reduced: bool | None = None  # static only: weights on 7 bits (±64); None: where this CPU's int8 kernels saturate

    def describe(self) -> str:
        return MODES[self.mode].describe(self)

    @property
    def seven_bit(self) -> bool:
        """Whether static int8 rounds weights to 7 bits: as asked, else where ORT's int8 kernels on this CPU
        saturate on 8-bit ones (saturation.py). Not dynamic int8: there 7-bit weights came out further from float
        than saturated 8-bit ones on 6 of 13 corpus models, closer on 3 (PP-OCR's detector: cosine 0.940 → 0.852,
        benchmarks/results/saturation.md)."""
        if self.mode != "static" or self.reduced is False:
            return False
        return self.reduced or saturates()


@dataclass(frozen=True)
class Mode:
    # (float .onnx, where to write, settings, node names to leave float, calibration reader or None) → the
    # names of more nodes it left float of its own accord (static int8: those around unbounded values)
    run: Callable[[Path, Path, Settings, list[str], object], list[str] | None]
    describe: Callable[[Settings], str]
    preprocess: bool  # run ORT's quant_pre_process (shape inference, basic optimisation) first
    needs_data: bool = False
    reads_data: bool = False  # given a reader when there is data, without needing it
    kept_float: str = ""  # why the nodes `run` leaves float of its own accord stay float
    per_channel: bool = False  # whether Settings.per_channel means anything to it
    min_opset: int = 0  # the ONNX opset its output needs; an older model is converted up when it can be


def _dynamic(src: Path, dst: Path, s: Settings, exclude: list[str], _reader) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src, dst, per_channel=s.per_channel, weight_type=QuantType.QInt8, nodes_to_exclude=exclude)


def _static(src: Path, dst: Path, s: Settings, exclude: list[str], reader) -> list[str]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[s.calibration]
    cache = _ranges_cache(src, s)

    def run(float_nodes: list[str]) -> None:
        # uint8 activations with int8 weights (U8S8): ORT's fast kernels on x86; its int8-activation default
        # ran 1.5–9× slower on the corpus, often slower than float, for the same fidelity (benchmarks/RESULTS.md)
        options = copy.deepcopy(s.extra_options) or {}
        if s.calibration != "minmax":
            # histograms merged batch by batch (ORT's strided calibration), not made of every activation of every
            # example at once, which can take tens of GB
            options["CalibStridedMinMax"] = 1
        quantize_static(src, dst, reader, quant_format=QuantFormat.QDQ, per_channel=s.per_channel, calibrate_method=method,
                        reduce_range=s.seven_bit, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=float_nodes,
                        op_types_to_quantize=None if s.weightless else sorted(WEIGHTED_OPS),
                        calibration_cache_path=cache, extra_options=options)

    calibrated = cache.exists()
    around = _around_unbounded(src, cache, exclude) if calibrated else []
    run(exclude + around)
    if not calibrated:  # the ranges exist now: quantized again, from them, when some reach −∞'s stand-in
        around = _around_unbounded(src, cache, exclude)
        if around:
            run(exclude + around)
    return around


def _around_unbounded(src: Path, cache: Path, exclude: list[str]) -> list[str]:
    """The nodes (not in `exclude`) that make or read a value whose calibrated range reaches UNBOUNDED."""
    from onnxruntime.quantization.calibrate import load_tensors_data

    far = {name for name, r in load_tensors_data(cache).items()
           if np.abs(np.asarray(r.range_value, dtype=np.float64)).max() >= UNBOUNDED}
    if not far:
        return []
    nodes = onnx.load(str(src), load_external_data=False).graph.node
    return [n.name for n in nodes if n.name not in exclude and far & {*n.input, *n.output}]


def _ranges_cache(src: Path, s: Settings) -> Path:
    """Where ORT keeps the calibrated ranges of `src`, so that retries, per-layer trials and the float
    fallback calibrate once: ranges depend on the file, method and sample count, not on the nodes
    excluded. Ranges of every operator cover the weighted ones too."""
    every = src.with_name(f"{src.stem}.{s.calibration}.{s.samples}.all.json")
    return every if s.weightless or every.exists() else src.with_name(f"{src.stem}.{s.calibration}.{s.samples}.weighted.json")


def _fp16(src: Path, dst: Path, s: Settings, exclude: list[str], reader) -> list[str]:
    from onnxruntime.transformers.onnx_model import OnnxModel

    proto = onnx.load(src)
    beyond = [] if reader is None else _beyond_fp16(proto, reader, exclude)
    # ORT's converter through its model wrapper: it then removes the Cast pairs (to fp16 and back) that the
    # converter puts between two nodes kept float, which would round their values to fp16 all the same
    half = OnnxModel(proto)
    half.convert_float_to_float16(use_symbolic_shape_infer=False, keep_io_types=True, node_block_list=exclude + beyond)
    onnx.save(half.model, dst)
    return beyond


def _beyond_fp16(proto: onnx.ModelProto, reader, exclude: list[str]) -> list[str]:
    """The main graph's nodes (not in `exclude`) that make or read a float value past FP16_SAFE when the
    float model runs on the first FP16_EXAMPLES examples of the reader."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    outputs = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for name in node.output:
            if name and name not in outputs:
                probe.graph.output.append(onnx.ValueInfoProto(name=name))
                outputs.add(name)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    largest: dict[str, float] = {}
    for _ in range(FP16_EXAMPLES // CALIBRATION_BATCH):
        if (feed := reader.get_next()) is None:
            break
        values = {**feed, **dict(zip(names, session.run(None, feed)))}
        for name, v in values.items():
            if isinstance(v, np.ndarray) and v.dtype == np.float32 and v.size:
                largest[name] = max(largest.get(name, 0.0), float(np.nanmax(np.abs(v))))
    far = {name for name, top in largest.items() if top > FP16_SAFE}
    return [n.name for n in proto.graph.node if n.name not in exclude and far & {*n.input, *n.output}]


def _weights_only(src: Path, dst: Path, s: Settings, exclude: list[str], _reader) -> None:
    from onnxruntime.quantization.onnx_model import ONNXModel

    with _root_logger_kept():  # the module calls logging.basicConfig(level=INFO) when imported
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = ONNXModel(onnx.load(src))
    model.replace_gemm_with_matmul()  # MatMulNBits covers MatMul; a Linear layer exports as Gemm
    quantizer = MatMulNBitsQuantizer(model.model, bits=s.bits, block_size=WEIGHT_ONLY_BLOCK, is_symmetric=True,
                                     nodes_to_exclude=exclude)
    quantizer.process()
    onnx.save(quantizer.model.model, dst)


MODES: dict[str, Mode] = {
    "dynamic": Mode(_dynamic, lambda s: "int8 dynamic" + _brackets([] if s.per_channel else ["per tensor"], s), preprocess=True,
                    per_channel=True),
    "static": Mode(_static, lambda s: "int8 static" + _brackets([s.calibration, f"{s.samples} samples"] + (
                   [] if s.weightless else ["only the activations of layers with weights"]), s), preprocess=True,
                   needs_data=True, per_channel=True, min_opset=13,  # per-channel DequantizeLinear (axis) needs 13
                   kept_float="around values calibrated beyond ±1e30 (an attention mask's stand-in for −∞: int8 steps over "
                              "that range round every other value to one)"),
    "fp16": Mode(_fp16, lambda s: "fp16", preprocess=True, reads_data=True,
                 kept_float=f"whose values on the data pass {FP16_SAFE:.0f}, a quarter of fp16's largest number (a power "
                            "spectrum's squares, say): in fp16 they would overflow to infinity"),
    "weights-only": Mode(_weights_only, lambda s: f"int{s.bits} weights only", preprocess=False),
}


def _brackets(words: list[str], s: Settings) -> str:
    words = words + (["7-bit weights"] if s.seven_bit else [])
    return f" ({', '.join(words)})" if words else ""


@dataclass
class Prepared:
    """A float ONNX model ready for ORT's quantizers, on disk in a temporary folder."""

    model: Model  # the float ONNX version (exported when the source was PyTorch)
    proto: onnx.ModelProto  # as the quantizers read it: pre-processed when the mode asks, every node named
    path: Path
    folder: Path
    notes: list[str]
    raw: Path | None = None  # the same model not pre-processed, when `path` is
    fallback: int = 0  # attempts (see attempts()) that failed: later runs start after them

    def layers(self) -> list[tuple[str, str]]:
        """(node name, op type) of the weighted layers: what a user excludes, ranks or keeps float."""
        inits = {t.name for t in self.proto.graph.initializer}
        nodes = self.proto.graph.node
        return [(n.name, n.op_type) for n in nodes if n.op_type in LAYER_OPS and any(i in inits for i in n.input[1:])]

    def resolve(self, patterns: list[str]) -> list[str]:
        """Node names matching layer names (`fc1`, from the weight `fc1.weight`), node names or op
        types; globs allowed. A pattern that matches nothing is an error: it is most often a typo."""
        inits = {t.name for t in self.proto.graph.initializer}
        names, unmatched = [], set(patterns)
        for node in self.proto.graph.node:
            labels = [node.name] + [i.rsplit(".", 1)[0] for i in node.input if i in inits and "." in i]
            hits = {p for p in patterns if any(excluded(label, node.op_type, [p]) for label in labels)}
            if hits:
                names += aliases(node)
                unmatched -= hits
        if unmatched:
            first = sorted(unmatched)[0]
            raise StudioError(f"quantize.exclude: {first!r} matches no layer (give a layer or node name, or an op type like Conv)")
        return names

    def attempts(self, settings: Settings) -> list[tuple[Path, Settings, str]]:
        """(model file, settings, what changed) from the preferred to the safest: ORT's quantizers raise
        on some graphs (pre-processed ones, per-channel axes they cannot work out)."""
        tries = [(self.path, settings, "")]
        if self.raw is not None:
            tries.append((self.raw, settings, "without pre-processing"))
        if MODES[settings.mode].per_channel and settings.per_channel:
            tries.append((self.raw or self.path, replace(settings, per_channel=False), "per tensor"))
        return tries


def aliases(node: onnx.NodeProto) -> list[str]:
    """A node's names as ORT's quantizers may see them: dynamic and weight-only quantization first turn
    a Gemm into a MatMul named NAME_MatMul (onnx_model.replace_gemm_with_matmul)."""
    return [node.name, f"{node.name}_MatMul"] if node.op_type == "Gemm" else [node.name]


@contextlib.contextmanager
def prepared(model: Model, mode: str, example: dict | None = None) -> Iterator[Prepared]:
    """Export (a PyTorch version), refuse a model that is quantized already, name every node, turn
    weights held in Constant nodes into initializers, pre-process when the mode asks; files live as
    long as the context."""
    ort_errors_only()
    exported = to_onnx(model, example=example)
    reason = already_quantized(exported.onnx)
    if reason:
        raise StudioError(reason, model.source)
    proto = onnx.ModelProto()
    proto.CopyFrom(full_onnx(exported))
    for i, node in enumerate(proto.graph.node):
        node.name = node.name or (node.output[0] if node.output else f"{node.op_type}_{i}")
    constants_to_initializers(proto)
    proto, notes = _opset_at_least(proto, MODES[mode].min_opset)
    raw = None
    with tempfile.TemporaryDirectory(prefix="studio-quantize-") as tmp:
        folder = Path(tmp)
        path = folder / "float.onnx"
        onnx.save(proto, path)
        if _wants_preprocess(mode, proto):
            done = folder / "prepared.onnx"
            proto, more, ok = _preprocess(path, done, proto)
            notes += more
            if ok:
                path, raw = done, path
        yield Prepared(exported, proto, path, folder, notes, raw)


def _opset_at_least(proto: onnx.ModelProto, opset: int) -> tuple[onnx.ModelProto, list[str]]:
    """The model converted up to `opset` by ONNX's version converter, with a note; as it was when it is
    recent enough or cannot be converted (then the quantizer's fallbacks take over)."""
    current = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset)
    if current >= opset:
        return proto, []
    try:
        converted = onnx.version_converter.convert_version(proto, opset)
    except Exception:  # the converter lacks adapters for some ops; per-tensor scales still work at the old opset
        return proto, []
    return converted, [f"converted from ONNX opset {current} to {opset} for per-channel int8"]


MAX_PREPROCESS_GROWTH = 1.05  # Silero VAD's LSTM weights, sliced and reordered in the graph, came out folded 4 times: 1.43×


def _preprocess(src: Path, dst: Path, proto: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str], bool]:
    """ORT's pre-processing: ONNX shape inference and the optimisation that folds BatchNormalization into
    Conv; (proto, notes, whether it was pre-processed). Without ORT's symbolic shape inference: on the
    corpus it changed no quantized result (benchmarks/RESULTS.md) and took seconds, or failed, on most graphs."""
    from onnxruntime.quantization import quant_pre_process

    try:
        with quiet(""), contextlib.chdir(dst.parent):  # ORT may write debug models into the working folder
            quant_pre_process(src, dst, skip_symbolic_shape=True)
    except Exception as e:  # quantization still works without pre-processing
        return proto, [f"ORT pre-processing skipped ({first_line(e, 100)})"], False
    before, after = src.stat().st_size, dst.stat().st_size
    growth = after / max(before, 1)
    if growth > MAX_PREPROCESS_GROWTH and after - before > 1 << 16:  # a tiny graph's own bookkeeping is no growth
        return proto, [f"ORT pre-processing skipped: it made the file {growth:.2f}× larger (weights computed in the graph folded "
                       "into a copy for each use)"], False
    return onnx.load(dst), [], True


def _wants_preprocess(mode: str, proto: onnx.ModelProto) -> bool:
    """Static QDQ always (folded BatchNormalization calibrates as one layer); dynamic and fp16 only when
    there is a BatchNormalization to fold: otherwise it changed nothing but the time (seconds on a
    transformer). fp16 needs it: PP-OCR's detector keeps a running variance of 9.8e7, past fp16's 65504,
    and its fp16 version had cosine 0.02–0.8 with the float one until the variance was folded away."""
    return MODES[mode].preprocess and (mode == "static" or any(n.op_type == "BatchNormalization" for n in proto.graph.node))


def quantize_prepared(prep: Prepared, settings: Settings, exclude: list[str], data: DataSet | None = None,
                      cancel: CancelToken = NO_CANCEL, name: str = "quantized") -> onnx.ModelProto:
    """ORT's quantizer on a prepared model; the proto it wrote, checked to load in ORT. When it raises,
    the next safer setting is tried (see Prepared.attempts) and prep.notes say what changed."""
    mode = MODES[settings.mode]
    out = prep.folder / f"{name}.onnx"
    tries = prep.attempts(settings)
    failures = []
    for k in range(min(prep.fallback, len(tries) - 1), len(tries)):
        src, s, change = tries[k]
        wanted = mode.needs_data or (mode.reads_data and data is not None and len(data.train()) > 0)
        reader = Calibration(data, prep.model, s.samples, cancel) if wanted else None
        try:
            with quiet(""):  # ORT prints calibration progress and logs hints meant for script users
                around = mode.run(src, out, s, exclude, reader)
            proto = onnx.load(out)
            ort_session(replace(prep.model, onnx=proto))  # raises a StudioError if ONNX Runtime cannot load it
        except Cancelled:
            raise
        except Exception as e:  # ORT's quantizers raise many types (ValueError, RuntimeError, their own)
            failures.append(first_line(StudioError(e.problem) if isinstance(e, StudioError) else e, 120))
            continue
        if k > prep.fallback:
            prep.notes.append(f"retried {change}: {failures[0]}")
            prep.fallback = k
        if around:  # said once, for the last try (per-layer trials leave different numbers float)
            prep.notes[:] = [n for n in prep.notes if not n.endswith(mode.kept_float)]
            prep.notes.append(f"kept float the {len(around)} operators {mode.kept_float}")
        return proto
    also = " (also " + " and ".join(c for _, _, c in tries[1:]) + ")" if len(tries) > 1 else ""
    raise StudioError(f"ONNX Runtime's quantizer failed{also}: {failures[0]}", prep.model.source)


class Calibration:
    """ORT's CalibrationDataReader (ORT accepts any object with get_next): batches of the train split,
    inputs only, so unlabeled data calibrates as well. Checks for cancellation between batches. Its
    length and set_range are what ORT's strided calibration reads it by (a range of batches)."""

    def __init__(self, data: DataSet, model: Model, samples: int, cancel: CancelToken = NO_CANCEL):
        train = data.train().shaped_for(model.inputs)
        n = min(samples, len(train))
        if n == 0:
            raise StudioError("the train split holds no examples to calibrate on", data.name)
        x = {k: v if v.ndim == 0 else v[:n] for k, v in train.x.items()}  # shaped_for cast them to the model's dtypes
        self._feeds = [feed for _, feed in batches(model, x, CALIBRATION_BATCH)]  # views of the examples
        self._cancel = cancel
        self.set_range(0, len(self._feeds))

    def __len__(self) -> int:
        return len(self._feeds)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._batches = iter(self._feeds[start_index:end_index])

    def get_next(self) -> dict | None:
        self._cancel.check()
        return next(self._batches, None)


@contextlib.contextmanager
def _root_logger_kept():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
