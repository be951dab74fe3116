"""The one Model object every loader returns: what it is, what goes in and out, what it allows."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

ONNX2TORCH_INSTALL = "pip install --no-deps onnx2torch==1.5.15"  # its declared torchvision dependency would replace torch
CHILD_READ_BYTES = 64 << 20  # a window's files larger than this are read by a forked child (see load_onnx, torchscript_apart)


class Format(str, Enum):
    SAMPLE = "sample"
    PICKLED_MODULE = "pickled-module"
    TORCHSCRIPT = "torchscript"
    EXPORTED_PROGRAM = "torch-export"
    ONNX = "onnx"
    CONVERTED = "onnx-converted"  # an ONNX model made a PyTorch module (formats/onnx_to_torch)
    STATE_DICT = "state-dict"
    HF_FOLDER = "hf-folder"  # a Hugging Face folder opened with transformers (formats/load_hf): an eager module

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Format.SAMPLE: "bundled sample (PyTorch module)",
    Format.PICKLED_MODULE: "pickled PyTorch module",
    Format.TORCHSCRIPT: "TorchScript archive",
    Format.EXPORTED_PROGRAM: "torch.export program (.pt2)",
    Format.ONNX: "ONNX model",
    Format.CONVERTED: "ONNX model converted to PyTorch (onnx2torch)",
    Format.STATE_DICT: "weights only (state_dict)",
    Format.HF_FOLDER: "Hugging Face model folder (transformers, PyTorch module)",
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str | None, ...] | None  # None: unknown; str/None entries: dynamic axes
    dtype: str = "float32"

    def to_json(self) -> dict:
        return {"name": self.name, "shape": None if self.shape is None else list(self.shape), "dtype": self.dtype}


def is_fixed(dim) -> bool:
    """A size the file fixes (files write unknown sizes as names, None, 0 or -1)."""
    return isinstance(dim, int) and dim > 0


def batch_axes(inputs: list[TensorSpec]) -> dict[str, int]:
    """Where each input holds its batch: axis 0 unless the file says otherwise — by naming the first
    input's batch dimension elsewhere, or by a fixed first axis larger than 1 before a dynamic one."""
    first = inputs[0].shape if inputs and inputs[0].shape else ()
    batch_name = first[0] if first and isinstance(first[0], str) else None
    axes = {}
    for spec in inputs:
        shape = spec.shape or ()
        axis = 0
        if shape and is_fixed(shape[0]) and shape[0] > 1:
            named = [k for k, d in enumerate(shape) if batch_name is not None and d == batch_name]
            dynamic = [k for k, d in enumerate(shape) if not is_fixed(d)]
            axis = (named or dynamic or [0])[0]
        axes[spec.name] = axis
    return axes


@dataclass(frozen=True)
class Capability:
    allowed: bool
    reason: str = ""


OPERATIONS = {
    "inspect": "inspect",
    "prune_unstructured": "unstructured pruning",
    "prune_structured": "structured pruning",
    "finetune": "fine-tuning / training as a student",
    "quantize": "quantization",
    "distill_teacher": "teaching a student (distillation)",
}


@dataclass
class Model:
    """A loaded model. Exactly one of module / onnx / state_dict holds its weights."""

    source: str  # path or sample name, as the user gave it
    format: Format
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    module: Any = None  # torch.nn.Module: eager, scripted, or ExportedProgram.module()
    program: Any = None  # torch.export.ExportedProgram, for .pt2
    onnx: Any = None  # onnx.ModelProto; tensors stored as external data may have their bytes in `external`
    state_dict: dict | None = None  # bare weights, no architecture
    size_bytes: int = 0  # on disk, external data included
    notes: list[str] = field(default_factory=list)
    # Format.CONVERTED: the ONNX graph the module was converted from, and where each of the module's
    # tensors goes back into it (formats/onnx_to_torch.Origin): exports write trained weights into that graph
    origin: Any = field(default=None, repr=False, compare=False)
    # ONNX external data read from disk but not yet put into the proto: (location, offset, length) →
    # bytes. The analysis reads weights from here (load_onnx.tensor_array), and only an operation that
    # needs the whole proto calls load_onnx.full_onnx, paying for the copy into protobuf then.
    external: dict[tuple[str, int, int], bytes] = field(default_factory=dict, repr=False, compare=False)
    tokenizer: str | None = None  # the folder whose tokenizer turns text into this model's inputs (formats/load_hf)

    @property
    def name(self) -> str:
        return self.source.rsplit("/", 1)[-1]

    @property
    def input_shapes_known(self) -> bool:
        return bool(self.inputs) and all(
            s.shape is not None and all(isinstance(d, int) or d is None or isinstance(d, str) for d in s.shape)
            for s in self.inputs
        )

    @property
    def fixed_batch(self) -> int | None:
        """The one batch size a torch.export program traced without a dynamic batch dimension takes."""
        if self.format is not Format.EXPORTED_PROGRAM or not self.inputs or not self.inputs[0].shape:
            return None
        size = self.inputs[0].shape[0]
        return size if isinstance(size, int) else None

    def capabilities(self) -> dict[str, Capability]:
        caps = {op: _capability(self.format, op) for op in OPERATIONS}
        if self.fixed_batch:
            caps["finetune"] = Capability(False, f"takes batches of {self.fixed_batch} only: export it with a dynamic batch (torch.export.Dim)")
        first = self.inputs[0].shape if self.inputs else None
        if self.format is Format.ONNX and caps["finetune"].allowed and first and isinstance(first[0], int):
            caps["finetune"] = Capability(False, f"its file fixes the batch to {first[0]}: training needs a dynamic batch axis (export it with one)")
            caps["prune_structured"] = caps["finetune"]  # through the same conversion
        proto = self.onnx if self.onnx is not None else getattr(self.origin, "proto", None)  # a converted model's graph
        if caps["prune_structured"].allowed and proto is not None and any(n.op_type in CONTROL_FLOW for n in proto.graph.node):
            caps["prune_structured"] = Capability(False, "channels are not removed from a graph with If, Loop or Scan: Torch-Pruning "
                                                         "does not follow their branches")
        return caps


CONTROL_FLOW = ("If", "Loop", "Scan")


_NO = {
    Format.TORCHSCRIPT: {"prune_structured": "TorchScript code is fixed: channels cannot be removed from it"},
    Format.EXPORTED_PROGRAM: {"prune_structured": "a torch.export graph is flattened: channels cannot be removed"},
}
_STATE_DICT_REASON = "weights only, no architecture: nothing can run, so only inspection is possible"
STATE_DICT_NOTE = "weights only: without the architecture there is no graph and no compression"


def onnx2torch_installed() -> bool:
    """Whether ONNX models can be converted to PyTorch (formats/onnx_to_torch), without importing it."""
    return importlib.util.find_spec("onnx2torch") is not None


def _capability(fmt: Format, op: str) -> Capability:
    if op == "inspect":
        return Capability(True)
    if fmt is Format.STATE_DICT:
        return Capability(False, _STATE_DICT_REASON)
    reason = _NO.get(fmt, {}).get(op)
    if reason:
        return Capability(False, reason)
    if op == "quantize" and fmt is not Format.ONNX:
        return Capability(True, "through an ONNX export")
    if op == "finetune" and fmt is Format.ONNX:
        if not onnx2torch_installed():
            return Capability(False, f"ONNX weights are trained after conversion to PyTorch, which needs onnx2torch: {ONNX2TORCH_INSTALL}")
        return Capability(True, "after conversion to PyTorch (onnx2torch), checked against ONNX Runtime on the data")
    if op == "prune_structured" and fmt is Format.ONNX:
        if not onnx2torch_installed():
            return Capability(False, f"channels are removed from a PyTorch version, which needs onnx2torch: {ONNX2TORCH_INSTALL}")
        return Capability(True, "after conversion to PyTorch (onnx2torch); the result is exported again by torch.onnx")
    if op == "prune_unstructured" and fmt is Format.ONNX:
        return Capability(True, "weights pruned in place (fine-tuning converts the model to PyTorch)")
    if op == "distill_teacher" and fmt is Format.ONNX:
        return Capability(True, "the teacher runs in ONNX Runtime")
    return Capability(True)
