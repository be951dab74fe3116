"""ONNX Runtime's quantizers as small named units in MODES (int8 dynamic and static QDQ, fp16, 4/8-bit
weight-only), run on a prepared ONNX copy of the model; exclusions reach ORT as node names (`nodes_to_exclude`)."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import onnx

from studio.core.evaluate.data import DataSet
from studio.core.errors import StudioError, first_line
from studio.core.formats.to_onnx import quiet, to_onnx
from studio.core.process.jobs import NO_CANCEL, CancelToken, Cancelled
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import Model
from studio.core.inspect.layers import LAYER_OPS
from studio.core.inspect.prunable import excluded
from studio.core.evaluate.runtime import ort_session

CALIBRATIONS = ("minmax", "entropy", "percentile")
CALIBRATION_BATCH = 32
WEIGHT_ONLY_BLOCK = 32  # weights per scale: ORT's MatMulNBits block size


@dataclass(frozen=True)
class Settings:
    mode: str = "dynamic"
    calibration: str = "minmax"  # static only
    samples: int = 256  # static only: calibration examples from the train split
    per_channel: bool = True  # one scale per output channel: closer to float (benchmarks/results/quantize.md), ~3 % larger
    bits: int = 4  # weights-only only

    def describe(self) -> str:
        return MODES[self.mode].describe(self)


@dataclass(frozen=True)
class Mode:
    # (float .onnx, where to write, settings, node names to leave float, calibration reader or None)
    run: Callable[[Path, Path, Settings, list[str], object], None]
    describe: Callable[[Settings], str]
    preprocess: bool  # run ORT's quant_pre_process (shape inference, basic optimisation) first
    needs_data: bool = False


def _dynamic(src: Path, dst: Path, s: Settings, exclude: list[str], _reader) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src, dst, per_channel=s.per_channel, weight_type=QuantType.QInt8, nodes_to_exclude=exclude)


def _static(src: Path, dst: Path, s: Settings, exclude: list[str], reader) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[s.calibration]  # fmt: skip
    quantize_static(src, dst, reader, quant_format=QuantFormat.QDQ, per_channel=s.per_channel,
                    calibrate_method=method, nodes_to_exclude=exclude)  # fmt: skip


def _fp16(src: Path, dst: Path, s: Settings, exclude: list[str], _reader) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = convert_float_to_float16(onnx.load(src), keep_io_types=True, node_block_list=exclude)
    onnx.save(proto, dst)


def _weights_only(src: Path, dst: Path, s: Settings, exclude: list[str], _reader) -> None:
    from onnxruntime.quantization.onnx_model import ONNXModel

    with _root_logger_kept():  # the module calls logging.basicConfig(level=INFO) when imported
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = ONNXModel(onnx.load(src))
    model.replace_gemm_with_matmul()  # MatMulNBits covers MatMul; a Linear layer exports as Gemm
    quantizer = MatMulNBitsQuantizer(model.model, bits=s.bits, block_size=WEIGHT_ONLY_BLOCK, is_symmetric=True,
                                     nodes_to_exclude=exclude)  # fmt: skip
    quantizer.process()
    onnx.save(quantizer.model.model, dst)


MODES: dict[str, Mode] = {
    "dynamic": Mode(_dynamic, lambda s: "int8 dynamic" + ("" if s.per_channel else " (per tensor)"), preprocess=True),
    "static": Mode(_static, lambda s: f"int8 static ({s.calibration}, {s.samples} samples)", preprocess=True, needs_data=True),
    "fp16": Mode(_fp16, lambda s: "fp16", preprocess=False),
    "weights-only": Mode(_weights_only, lambda s: f"int{s.bits} weights only", preprocess=False),
}


@dataclass
class Prepared:
    """A float ONNX model ready for ORT's quantizers, on disk in a temporary folder."""

    model: Model  # the float ONNX version (exported when the source was PyTorch)
    proto: onnx.ModelProto  # as the quantizers read it: pre-processed when the mode asks, every node named
    path: Path
    folder: Path
    notes: list[str]

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


def aliases(node: onnx.NodeProto) -> list[str]:
    """A node's names as ORT's quantizers may see them: dynamic and weight-only quantization first turn
    a Gemm into a MatMul named NAME_MatMul (onnx_model.replace_gemm_with_matmul)."""
    return [node.name, f"{node.name}_MatMul"] if node.op_type == "Gemm" else [node.name]


@contextlib.contextmanager
def prepared(model: Model, mode: str) -> Iterator[Prepared]:
    """Export (a PyTorch version), name every node, pre-process when the mode asks; files live as long
    as the context."""
    exported = to_onnx(model)
    proto = onnx.ModelProto()
    proto.CopyFrom(full_onnx(exported))
    for i, node in enumerate(proto.graph.node):
        node.name = node.name or (node.output[0] if node.output else f"{node.op_type}_{i}")
    notes = []
    with tempfile.TemporaryDirectory(prefix="studio-quantize-") as tmp:
        folder = Path(tmp)
        path = folder / "float.onnx"
        onnx.save(proto, path)
        if MODES[mode].preprocess:
            proto, notes = _preprocess(path, folder / "prepared.onnx", proto)
            onnx.save(proto, path)
        yield Prepared(exported, proto, path, folder, notes)


def _preprocess(src: Path, dst: Path, proto: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    from onnxruntime.quantization import quant_pre_process

    try:
        with quiet(""):
            quant_pre_process(src, dst)
        return onnx.load(dst), []
    except Exception as e:  # symbolic shape inference fails on some graphs; quantization still works without it
        return proto, [f"ORT pre-processing skipped ({first_line(e, 100)})"]


def quantize_prepared(prep: Prepared, settings: Settings, exclude: list[str], data: DataSet | None = None,
                      cancel: CancelToken = NO_CANCEL, name: str = "quantized") -> onnx.ModelProto:  # fmt: skip
    """One run of ORT's quantizer on a prepared model; the proto it wrote, checked to load in ORT."""
    mode = MODES[settings.mode]
    reader = Calibration(data, prep.model, settings.samples, cancel) if mode.needs_data else None
    out = prep.folder / f"{name}.onnx"
    try:
        with quiet(""):  # ORT prints calibration progress and logs hints meant for script users
            mode.run(prep.path, out, settings, exclude, reader)
    except Cancelled:
        raise
    except Exception as e:  # ORT's quantizers raise many types (ValueError, RuntimeError, their own)
        raise StudioError(f"ONNX Runtime's quantizer failed ({first_line(e)})", prep.model.source) from None
    proto = onnx.load(out)
    ort_session(replace(prep.model, onnx=proto))  # raises a StudioError if ONNX Runtime cannot load it
    return proto


class Calibration:
    """ORT's CalibrationDataReader (ORT accepts any object with get_next): batches of the train split,
    inputs only, so unlabeled data calibrates as well. Checks for cancellation between batches."""

    def __init__(self, data: DataSet, model: Model, samples: int, cancel: CancelToken = NO_CANCEL):
        train = data.train().shaped_for(model.inputs)
        n = min(samples, len(train))
        if n == 0:
            raise StudioError("the train split holds no examples to calibrate on", data.name)
        self._batches = iter([{k: v[i : min(i + CALIBRATION_BATCH, n)] for k, v in train.x.items()}
                              for i in range(0, n, CALIBRATION_BATCH)])  # fmt: skip
        self._cancel = cancel

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
