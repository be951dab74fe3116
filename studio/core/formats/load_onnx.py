"""ONNX files: parsed without running anything; external data only from inside the model's folder."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper

from studio.core.errors import StudioError, first_line
from studio.core.formats import model as model_module
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.process.isolated import isolated
from studio.core.process.jobs import NO_CANCEL, run_to_end
from studio.core.process.locks import INLINE_LOCK


def load_onnx(path: Path, source: str, responsive: bool = False) -> Model:
    """responsive: other threads (a window's) keep running. Parsing a proto of hundreds of MB holds
    Python's lock for about a second, so a large file is parsed in a forked child, which sends the
    model back with its weights apart from the proto (see Model.external and transfer._onnx_apart)."""
    if responsive and path.stat().st_size > model_module.CHILD_READ_BYTES:
        return run_to_end(isolated(_load_job)(path, source, cancel=NO_CANCEL))
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeError, ValueError) as e:
        raise StudioError(f"not a model this studio reads: not PyTorch, and not valid ONNX ({first_line(e)})", source) from None
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.graph.node:
        raise StudioError("not a model this studio reads: not PyTorch, and no ONNX graph in it", source)
    external, external_size = _read_external_data(proto, path, source)
    _check_sizes(proto, external, source)
    notes = _opset_notes(proto) + _graph_notes(proto.graph)
    model = Model(
        source=source,
        format=Format.ONNX,
        inputs=graph_inputs(proto.graph),
        outputs=[_spec(v) for v in proto.graph.output],
        onnx=proto,
        size_bytes=path.stat().st_size + external_size,
        notes=notes,
    )
    model.external = external
    return model


def _load_job(path: Path, source: str, cancel):
    yield from ()
    return load_onnx(path, source)


def graph_inputs(graph: onnx.GraphProto) -> list[TensorSpec]:
    weights = {i.name for i in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    return [_spec(v) for v in graph.input if v.name not in weights]


def all_graphs(graph: onnx.GraphProto):
    """The graph and every subgraph in it (If branches, Loop bodies), recursively."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from all_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from all_graphs(g)


def free_names(graph: onnx.GraphProto) -> set[str]:
    """The values a graph (with its own subgraphs) reads from the graphs around it."""
    used, made = set(), set()
    for g in all_graphs(graph):
        made |= {i.name for i in g.initializer} | {i.name for i in g.input} | {o for n in g.node for o in n.output}
        used |= {i for n in g.node for i in n.input} | {o.name for o in g.output}
    return used - made - {""}


def stored_tensors(graph: onnx.GraphProto):
    """(name, TensorProto) of every tensor a graph stores under a value's name: initializers and Constant
    nodes' values, in its subgraphs too."""
    for g in all_graphs(graph):
        yield from ((i.name, i) for i in g.initializer)
        yield from ((n.output[0], a.t) for n in g.node if n.op_type == "Constant" for a in n.attribute if a.name == "value")


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


def _read_external_data(proto: onnx.ModelProto, path: Path, source: str) -> tuple[dict[tuple[str, int, int], bytes], int]:
    """Read every external tensor's bytes, after checking each stays inside the model's folder. The
    bytes stay apart from the proto (see Model.external): a plain read releases Python's lock, a copy
    into protobuf does not. Returns the bytes by (location, offset, length) and the files' total size."""
    folder = path.resolve().parent
    files: set[Path] = set()
    data: dict[tuple[str, int, int], bytes] = {}
    for tensor in all_tensors(proto.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location, offset, length = external_key(tensor)
        target = (folder / location).resolve()
        if not location or os.path.isabs(location) or not target.is_relative_to(folder):
            raise StudioError(f"external data {location!r} of {tensor.name!r} points outside the model's folder", source)
        if not target.is_file():
            raise StudioError(f"external data file {location!r} is missing beside the model", source)
        if offset is None or length is None:
            raise StudioError(f"external data of {tensor.name!r} has a bad offset or length", source)
        if length == -1:
            length = target.stat().st_size - offset
        if offset < 0 or length < 0 or offset + length > target.stat().st_size:
            raise StudioError(f"external data file {location!r} is shorter than the model says (truncated?)", source)
        key = (location, offset, length)
        if key not in data:
            with target.open("rb") as f:
                f.seek(offset)
                data[key] = f.read(length)
        set_external_key(tensor, key)
        files.add(target)
    return data, sum(f.stat().st_size for f in files)


def external_key(tensor: onnx.TensorProto) -> tuple[str, int | None, int | None]:
    info = {e.key: e.value for e in tensor.external_data}
    try:
        return info.get("location", ""), int(info.get("offset", 0)), int(info.get("length", -1))
    except ValueError:
        return info.get("location", ""), None, None


def set_external_key(tensor: onnx.TensorProto, key: tuple[str, int, int]) -> None:
    """Write the resolved length back, so that the tensor finds its bytes by the same key later."""
    del tensor.external_data[:]
    for k, v in zip(("location", "offset", "length"), key):
        tensor.external_data.add(key=k, value=str(v))




def full_onnx(model: Model):
    """The model's proto with every weight in it: the external weights still kept apart are moved into
    it first (once, whichever thread asks), for operations that serialise or copy the whole model."""
    with INLINE_LOCK:
        if not model.external:
            return model.onnx
        for tensor in all_tensors(model.onnx.graph):
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                tensor.raw_data = bytes(model.external[external_key(tensor)])  # bytes as read, or a transfer's buffer
                del tensor.external_data[:]
                tensor.data_location = onnx.TensorProto.DEFAULT
        model.external = {}
    return model.onnx


def tensor_array(tensor: onnx.TensorProto, external: dict[tuple[str, int, int], bytes]) -> np.ndarray:
    """A tensor's values; those of external data are read from `external` without a copy."""
    try:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            return numpy_helper.to_array(tensor)
        data = external[external_key(tensor)]
        dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type)
        shape = tuple(tensor.dims)
        if dtype.itemsize * math.prod(shape) == len(data) and sys.byteorder == "little":
            return np.frombuffer(data, dtype=dtype).reshape(shape)
        inline = onnx.TensorProto()  # packed 4-bit and other layouts: onnx's own reader
        inline.CopyFrom(tensor)
        del inline.external_data[:]
        inline.data_location = onnx.TensorProto.DEFAULT
        inline.raw_data = data
        return numpy_helper.to_array(inline)
    except (ValueError, TypeError, KeyError) as e:  # sizes that do not match the data, unknown types
        raise StudioError(f"weight {tensor.name!r} is damaged ({first_line(e)})") from None


MAX_VALUES_PER_BYTE = 4  # 2-bit types pack four values into a byte; no tensor stores more densely


def _check_sizes(proto: onnx.ModelProto, external: dict, source: str) -> None:
    """Refuse tensors that claim more values than their bytes can hold (absurd or overflowing dims)
    before anything allocates for them."""
    for t in all_tensors(proto.graph):
        if any(d < 0 for d in t.dims):
            raise StudioError(f"weight {t.name!r} has a negative dimension: a damaged file", source)
        stored = len(external[external_key(t)]) if t.data_location == onnx.TensorProto.EXTERNAL else t.ByteSize()
        claimed = math.prod(t.dims)
        if claimed > MAX_VALUES_PER_BYTE * stored + 1:
            raise StudioError(f"weight {t.name!r} claims {claimed:,} values but stores {stored:,} bytes: a damaged file", source)


STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")  # what ONNX Runtime runs


def _graph_notes(graph: onnx.GraphProto) -> list[str]:
    """What will stop a runtime: inputs produced by nothing, ops from domains of other runtimes."""
    known = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    known |= {s.values.name for s in graph.sparse_initializer}
    notes, custom = [], {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            if name not in known:
                notes.append(f"input {name!r} of node {node.name or node.op_type + str(i)!r} comes from nothing in the graph: "
                             "ONNX Runtime will refuse to run it")
                known.add(name)
        known.update(node.output)
        if node.domain not in STANDARD_DOMAINS:
            custom.setdefault(node.domain, set()).add(node.op_type)
    for domain, ops in sorted(custom.items()):
        notes.append(f"ops of domain {domain} ({', '.join(sorted(ops))}) need that runtime's own library: ONNX Runtime cannot run them here")
    return notes


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
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None) for d in t.shape.dim)
    try:
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type).name
    except (KeyError, ValueError, TypeError):
        dtype = onnx.TensorProto.DataType.Name(t.elem_type).lower() if t.elem_type else "unknown"
    return TensorSpec(value.name, shape, dtype)
