"""ONNX files: parsed without running anything; external data only from inside the model's folder."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import helper

from studio.core.errors import StudioError, first_line
from studio.core.model import Format, Model, TensorSpec


def load_onnx(path: Path, source: str) -> Model:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeError, ValueError) as e:
        raise StudioError(f"not a model this studio reads: not PyTorch, and not valid ONNX ({first_line(e)})", source) from None
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.graph.node:
        raise StudioError("not a model this studio reads: not PyTorch, and no ONNX graph in it", source)
    size = path.stat().st_size + _load_external_data(proto, path, source)
    notes = _opset_notes(proto)
    return Model(
        source=source,
        format=Format.ONNX,
        inputs=graph_inputs(proto.graph),
        outputs=[_spec(v) for v in proto.graph.output],
        onnx=proto,
        size_bytes=size,
        notes=notes,
    )


def graph_inputs(graph: onnx.GraphProto) -> list[TensorSpec]:
    weights = {i.name for i in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    return [_spec(v) for v in graph.input if v.name not in weights]


def all_tensors(graph: onnx.GraphProto):
    """Every TensorProto stored in a graph: initializers, Constant nodes, and subgraphs, recursively."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.GRAPH:
                yield from all_tensors(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from all_tensors(g)


def _load_external_data(proto: onnx.ModelProto, path: Path, source: str) -> int:
    """Read every external tensor into the model, after checking it stays inside the model's folder.
    One plain read per tensor: the read releases Python's lock, so a window stays responsive while a
    large model loads. Returns the bytes of the external files."""
    folder = path.resolve().parent
    files: set[Path] = set()
    for tensor in all_tensors(proto.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        target = (folder / location).resolve()
        if not location or os.path.isabs(location) or not target.is_relative_to(folder):
            raise StudioError(f"external data {location!r} of {tensor.name!r} points outside the model's folder", source)
        if not target.is_file():
            raise StudioError(f"external data file {location!r} is missing beside the model", source)
        try:
            offset, length = int(info.get("offset") or 0), int(info.get("length") or (target.stat().st_size - int(info.get("offset") or 0)))
        except ValueError:
            raise StudioError(f"external data of {tensor.name!r} has a bad offset or length", source) from None
        if offset < 0 or length < 0 or offset + length > target.stat().st_size:
            raise StudioError(f"external data file {location!r} is shorter than the model says (truncated?)", source)
        with target.open("rb") as f:
            f.seek(offset)
            tensor.raw_data = f.read(length)
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
        files.add(target)
    return sum(f.stat().st_size for f in files)


def _opset_notes(proto: onnx.ModelProto) -> list[str]:
    notes = []
    supported = onnx.defs.onnx_opset_version()
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx") and imp.version > supported:
            notes.append(f"opset {imp.version} is newer than this onnx library knows ({supported})")
    return notes


def _spec(value: onnx.ValueInfoProto) -> TensorSpec:
    t = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        return TensorSpec(value.name, None, "non-tensor")
    shape = None
    if t.HasField("shape"):
        shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
    try:
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type).name
    except (KeyError, ValueError, TypeError):
        dtype = onnx.TensorProto.DataType.Name(t.elem_type).lower() if t.elem_type else "unknown"
    return TensorSpec(value.name, shape, dtype)
