"""An ONNX model as a trainable PyTorch module, by onnx2torch, and back: what lets an ONNX file be
fine-tuned and pruned like a PyTorch one.

Back to ONNX is not a new export: the trained tensors are written into the graph they came from, so
the result keeps the original's operators, input and output names, dtypes, dynamic axes and opset.
That needs to know which initializer each tensor of the module holds: found at conversion by value
(the module's tensors are the initializers, sometimes transposed or reshaped). The conversion itself is
not trusted here: compress/conversion.py compares the module with ONNX Runtime on data first.

onnx2torch imports torchvision for two operators (NonMaxSuppression, RoiAlign). torchvision's wheels
for this torch do not import beside it, so when torchvision is missing or broken, those two operators
are refused, and everything else converts.

The module takes every input's examples on axis 0, as training feeds them (batch_first); its Model
says so, and back to ONNX restores the file's own inputs."""

from __future__ import annotations

import contextlib
import sys
import types
import warnings
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import numpy_helper

from studio.core.errors import StudioError
from studio.core.formats import onnx_to_torch_if
from studio.core.formats.load_onnx import all_graphs, full_onnx, stored_tensors
from studio.core.formats.model import ONNX2TORCH_INSTALL, Format, Model, TensorSpec, batch_axes, onnx2torch_installed
from studio.core.formats.onnx_computed import OPSETS, Part
from studio.core.formats.onnx_constants import constants_to_initializers
from studio.core.formats.onnx_to_torch_ops import register

if TYPE_CHECKING:
    import torch

NEEDS_TORCHVISION = ("NonMaxSuppression", "RoiAlign")


@dataclass(frozen=True)
class Origin:
    proto: onnx.ModelProto  # the graph converted, weights as initializers
    places: dict[str, list[tuple[str, str]]]  # initializer name → [(state_dict key, "same" | "T" | "reshape")]
    inputs: list  # the ONNX model's inputs (TensorSpec), whose batch axes the module takes first
    frame: bytes = b""  # the graph without the weights the module holds: the rest of the file it goes back to


def onnx_to_torch(model: Model) -> Model:
    """A PyTorch version of an ONNX model (Format.CONVERTED) with the same inputs and outputs, in eval
    mode. Refused in one line, naming the operators onnx2torch cannot convert, or when a trainable
    tensor of the module could not be placed back into the graph."""
    convert, get_converter, torchvision = _onnx2torch()
    proto = onnx.ModelProto()
    proto.CopyFrom(full_onnx(model))
    constants_to_initializers(proto)  # onnx2torch reads weights from initializers only
    _drop_idle_allowzero(proto)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    missing = Counter()
    for node in (n for g in all_graphs(proto.graph) for n in g.node):
        try:
            get_converter(node.op_type, opset, node.domain or "")
        except NotImplementedError:
            missing[node.op_type] += 1
        if node.op_type in NEEDS_TORCHVISION and not torchvision:
            missing[f"{node.op_type} (needs torchvision)"] += 1
    if missing:
        ops = ", ".join(f"{op} ×{n}" if n > 1 else op for op, n in sorted(missing.items()))
        raise StudioError(f"cannot be converted to PyTorch: onnx2torch has no converter for {ops} (opset {opset})", model.source)
    token = OPSETS.set(list(proto.opset_import))
    try:
        module = convert(returned_alone(proto)).eval()
    except Exception as e:  # onnx2torch raises NotImplementedError for unsupported attributes, and others
        kind = "" if isinstance(e, NotImplementedError) else f"{type(e).__name__}: "  # what cannot be converted, said plainly
        raise StudioError(f"cannot be converted to PyTorch: {kind}{str(e).splitlines()[0][:200]}", model.source) from e
    finally:
        OPSETS.reset(token)
    places, unplaced = _places(proto, module)
    if unplaced:
        raise StudioError(f"converted to PyTorch, but {len(unplaced)} trainable tensors (e.g. {unplaced[0]}) have no place in the "
                          "ONNX graph to go back to", model.source)
    origin = Origin(proto, places, model.inputs, _frame(proto, places))
    return replace(model, format=Format.CONVERTED, module=module, onnx=None, external={}, origin=origin,
                   inputs=batch_first(module, model.inputs))


def _frame(proto: onnx.ModelProto, places: dict) -> bytes:
    """The proto serialized without the data of the initializers the module holds. Built around the
    weights, not by copying them: a large model's weights are hundreds of MB."""
    frame = _copy_without(proto, "graph")
    frame.graph.CopyFrom(_copy_without(proto.graph, "initializer"))
    for init in proto.graph.initializer:
        if init.name in places:
            frame.graph.initializer.add(name=init.name, dims=init.dims, data_type=init.data_type)
        else:
            frame.graph.initializer.append(init)
    for name, tensor in stored_tensors(frame.graph):  # in If branches, and Constant nodes that computed weights rearrange
        if name in places:
            tensor.ClearField("raw_data")
            tensor.ClearField("float_data")
    return frame.SerializeToString()


def export_pieces(model: Model) -> list:
    """The bytes its export will hold, in pieces: the frame, then each stored tensor the module's tensors
    go back into, once (a tensor both branches of an If hold, or onnx2torch keeps a copy of per use,
    counts once), without writing the graph: a large model's weights are not copied."""
    import torch

    origin: Origin = model.origin
    state = model.module.state_dict()
    pieces = [origin.frame]
    for name, held in origin.places.items():
        key, how = held[0]
        if isinstance(how, Part):  # a part of a stored tensor: the whole one, with the part written in
            old = _stored_array(origin.proto, name)
            pieces.append(_written(old, state[key].detach().cpu().numpy(), how).tobytes())
        else:
            pieces.append(memoryview(state[key].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()))
    return pieces


def _stored_array(proto: onnx.ModelProto, name: str) -> np.ndarray:
    return numpy_helper.to_array(dict(stored_tensors(proto.graph))[name])  # KeyError when it is not stored


def _copy_without(message, skip: str):
    """A copy of a protobuf message without one of its fields."""
    copy = type(message)()
    for field, value in message.ListFields():
        if field.name == skip:
            continue
        if hasattr(value, "extend"):  # a repeated field
            getattr(copy, field.name).extend(value)
        elif hasattr(value, "CopyFrom"):
            getattr(copy, field.name).CopyFrom(value)
        else:
            setattr(copy, field.name, value)
    return copy


def batch_first(module, inputs: list[TensorSpec]) -> list[TensorSpec]:
    """The module made to take every input's examples on axis 0, as training feeds them, and its inputs
    said so: an input whose graph holds the batch elsewhere (Silero VAD's state [2, batch, 128]) is moved
    there first thing in the module."""
    import torch

    axes = batch_axes(inputs)
    placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
    moved = 0
    for spec, node in zip(inputs, placeholders):
        axis = axes.get(spec.name, 0)
        if axis:
            with module.graph.inserting_after(node):
                there = module.graph.call_function(torch.movedim, (node, 0, axis))
            node.replace_all_uses_with(there, delete_user_cb=lambda user: user is not there)
            moved += 1
    tidy(module, moved)
    return [replace(s, shape=(s.shape[axes[s.name]], *s.shape[: axes[s.name]], *s.shape[axes[s.name] + 1 :])) if axes.get(s.name) else s
            for s in inputs]


def returned_alone(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose outputs made by a node of several outputs come out of an Identity of their own:
    onnx2torch returns the node's whole tuple for such an output (a Split's second part as both parts)."""
    several = {o for n in proto.graph.node if len(n.output) > 1 for o in n.output}
    if not any(o.name in several for o in proto.graph.output):
        return proto
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    for out in copy.graph.output:
        if out.name in several:
            made = f"{out.name}__made"
            for node in copy.graph.node:
                node.output[:] = [made if o == out.name else o for o in node.output]
                node.input[:] = [made if i == out.name else i for i in node.input]
            copy.graph.node.append(onnx.helper.make_node("Identity", [made], [out.name], name=f"{out.name}__returned"))
    return copy


def _drop_idle_allowzero(proto: onnx.ModelProto) -> None:
    """torch's exporter writes Reshape(allowzero=1), which onnx2torch does not convert; it only means
    something when the target shape holds a 0, so it goes where the shape is a constant without one.
    The graph written back is this one: the same computation."""
    shapes = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT64}
    for node in proto.graph.node:
        if node.op_type == "Reshape" and len(node.input) > 1 and node.input[1] in shapes and 0 not in shapes[node.input[1]]:
            kept = [a for a in node.attribute if not (a.name == "allowzero" and a.i == 1)]
            del node.attribute[:]
            node.attribute.extend(kept)


def back_to_onnx(model: Model) -> Model:
    """The graph the module came from, with the module's tensors written into its initializers (those of
    If branches too). An initializer both branches read goes back from the branch that trained it."""
    origin: Origin = model.origin
    proto = onnx.ModelProto()
    proto.CopyFrom(origin.proto)
    state = {k: v.detach().cpu().numpy() for k, v in model.module.state_dict().items()}
    for name, tensor in stored_tensors(proto.graph):  # Constant nodes too: stored tensors a computed weight rearranges
        if name in origin.places:
            old = numpy_helper.to_array(tensor)
            values = [_written(old, state[key], how) for key, how in origin.places[name]]
            value = next((v for v in values if not np.array_equal(v, old)), values[0])
            tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(value).astype(old.dtype), tensor.name))
    return replace(model, format=Format.ONNX, onnx=proto, module=None, origin=None, size_bytes=proto.ByteSize(), inputs=origin.inputs)


def _written(old: np.ndarray, value: np.ndarray, how) -> np.ndarray:
    """What a stored tensor becomes from a module tensor that holds it ("same", transposed "T", "reshape"),
    or holds a part of it in other places (a Part of a computed weight)."""
    if isinstance(how, Part):
        new = old.copy().reshape(-1)
        new[how.source_index] = value.reshape(-1)[how.index]
        return new.reshape(old.shape)
    return (value.T if how == "T" else value).reshape(old.shape)


def _places(proto: onnx.ModelProto, module) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """Which initializer each float tensor of the module's state_dict holds: one of its own node's
    inputs (onnx2torch names each submodule after its node, an If's after the If and its branch), matched
    by value; and the trainable tensors matched to none. An initializer both branches of an If read is
    held by a tensor in each. Tensors onnx2torch keeps as plain buffers never train and stay as they were."""
    inits = {i.name: i for g in all_graphs(proto.graph) for i in g.initializer if i.data_type == onnx.TensorProto.FLOAT}
    places, taken, trainable = {}, set(), {name for name, p in module.named_parameters() if p.requires_grad}
    nodes = {}  # a graph's scope → its nodes by module name
    for key, tensor in module.state_dict().items():
        found = _node_of(key, proto.graph, nodes)
        if found is None or not tensor.is_floating_point():
            continue
        node, scope = found
        value = tensor.detach().cpu().numpy()
        for name in node.input_values:
            if name in inits and (name, scope) not in taken:
                how = _same(value, numpy_helper.to_array(inits[name]))
                if how:
                    places.setdefault(name, []).append((key, how))
                    taken.add((name, scope))
                    break
    for prefix, layer in module.named_modules():  # weights the graph computes by rearranging stored ones (formats/onnx_computed)
        for attr, parts in getattr(layer, "sources", {}).items():
            for part in parts:
                places.setdefault(part.source, []).append((f"{prefix}.{attr}", part))
    placed = {key for held in places.values() for key, _ in held}
    return places, sorted(trainable - placed)


def _node_of(key: str, graph: onnx.GraphProto, nodes: dict, scope: str = ""):
    """The ONNX node (onnx2torch's view of it) whose module holds state_dict entry `key`, and the If
    branches it lies in; None for a tensor of no node."""
    from onnx2torch.onnx_graph import OnnxGraph

    if scope not in nodes:
        nodes[scope] = OnnxGraph(graph).nodes
    first, _, rest = key.partition(".")
    node = nodes[scope].get(first)
    branch, _, inner = rest.partition(".")
    if node is not None and node.operation_type == "If" and branch in onnx_to_torch_if.BRANCHES:
        sub = next(a.g for a in node.proto.attribute if a.name == branch)
        return _node_of(inner, sub, nodes, f"{scope}{first}.{branch}.")
    return None if node is None else (node, scope)


def _same(value: np.ndarray, array: np.ndarray) -> str | None:
    if value.shape == array.shape and np.array_equal(value, array):
        return "same"
    if value.ndim == 2 and value.shape == array.T.shape and np.array_equal(value, array.T):
        return "T"
    if value.size == array.size and np.array_equal(value.reshape(-1), array.reshape(-1)):
        return "reshape"
    return None


def importable() -> None:
    """onnx2torch imported (with torchvision's stand-in where needed): before unpickling a converted module."""
    _onnx2torch()


def _onnx2torch():
    """(convert, get_converter, whether torchvision is real)."""
    if not onnx2torch_installed():
        raise StudioError(f"converting ONNX to PyTorch needs onnx2torch: {ONNX2TORCH_INSTALL}")
    with _torchvision_or_stand_in() as torchvision:
        from onnx2torch import convert
        from onnx2torch.node_converters.registry import get_converter

    register()  # the converters the studio adds
    # its Slice indexes with a list, which torch warns about on every call: a line per batch while training
    warnings.filterwarnings("ignore", category=UserWarning, module="onnx2torch")
    return convert, get_converter, torchvision


@contextlib.contextmanager
def _torchvision_or_stand_in():
    """torchvision as installed when it imports; otherwise, while onnx2torch is imported, a stand-in whose
    functions refuse, taken out of sys.modules again afterwards (nothing else sees it)."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # ImportError, or a RuntimeError from a wheel built for another torch
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
    else:
        yield True
        return

    def refused(*_args, **_kwargs):
        raise StudioError(f"{' and '.join(NEEDS_TORCHVISION)} need torchvision, which is not installed beside this torch")

    package, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
    ops.nms = ops.roi_align = ops.box_convert = refused
    package.ops = ops
    sys.modules.update({"torchvision": package, "torchvision.ops": ops})
    try:
        yield False
    finally:
        for name in ("torchvision", "torchvision.ops"):
            if sys.modules.get(name) in (package, ops):
                del sys.modules[name]


def flatten_reshapes(module, example: tuple) -> int:
    """Reshapes that flatten each example to one row with a size written into the graph (`[-1, 2048]`)
    become torch.flatten(x, 1): once channels are removed the size is another, and a written one would
    mix examples. Returns how many were rewritten (module is an onnx2torch GraphModule, changed in place)."""
    import torch

    seen: dict[str, tuple[tuple, tuple]] = {}

    def shapes(name):
        def hook(_, args, out) -> None:  # a hook that returns something replaces the output
            seen[name] = (tuple(args[0].shape), tuple(out.shape))
        return hook

    reshapes = {name: m for name, m in module.named_modules() if type(m).__name__ == "OnnxReshape"}
    hooks = [m.register_forward_hook(shapes(name)) for name, m in reshapes.items()]
    try:
        with torch.no_grad():
            module(*example)
    finally:
        for hook in hooks:
            hook.remove()
    graph, rewritten = module.graph, 0
    for node in list(graph.nodes):
        if node.op != "call_module" or node.target not in seen:
            continue
        before, after = seen[node.target]
        if len(before) > 2 and len(after) == 2 and after[0] == before[0] and after[1] == int(np.prod(before[1:])):
            with graph.inserting_before(node):
                flat = graph.call_function(torch.flatten, (node.args[0], 1))
            node.replace_all_uses_with(flat)
            graph.erase_node(node)
            rewritten += 1
    return tidy(module, rewritten)


def tidy(module: torch.fx.GraphModule, changes: int) -> int:
    """After `changes` rewrites of a graph (none: nothing to do): drop what nothing uses any more, and make
    the module run the new graph."""
    if changes:
        module.graph.eliminate_dead_code()
        module.delete_all_unused_submodules()
        module.recompile()
    return changes
