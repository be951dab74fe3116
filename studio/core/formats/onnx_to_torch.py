"""An ONNX model as a trainable PyTorch module, by onnx2torch, and back: what lets an ONNX file be
fine-tuned and pruned like a PyTorch one.

Back to ONNX is not a new export: the trained tensors are written into the graph they came from, so
the result keeps the original's operators, input and output names, dtypes, dynamic axes and opset.
That needs to know which initializer each tensor of the module holds: found at conversion by value
(the module's tensors are the initializers, sometimes transposed or reshaped). The conversion itself is
not trusted here: compress/conversion.py compares the module with ONNX Runtime on data first.

onnx2torch imports torchvision for two operators (NonMaxSuppression, RoiAlign). torchvision's wheels
for this torch do not import beside it, so when torchvision is missing or broken, those two operators
are refused, and everything else converts."""

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
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import ONNX2TORCH_INSTALL, Format, Model, onnx2torch_installed
from studio.core.formats.onnx_constants import constants_to_initializers
from studio.core.formats.onnx_to_torch_ops import register

if TYPE_CHECKING:
    import torch

NEEDS_TORCHVISION = ("NonMaxSuppression", "RoiAlign")


@dataclass(frozen=True)
class Origin:
    proto: onnx.ModelProto  # the graph converted, weights as initializers
    places: dict[str, tuple[str, str]]  # initializer name → (state_dict key, "same" | "T" | "reshape")


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
    for node in proto.graph.node:
        try:
            get_converter(node.op_type, opset, node.domain or "")
        except NotImplementedError:
            missing[node.op_type] += 1
        if node.op_type in NEEDS_TORCHVISION and not torchvision:
            missing[f"{node.op_type} (needs torchvision)"] += 1
    if missing:
        ops = ", ".join(f"{op} ×{n}" if n > 1 else op for op, n in sorted(missing.items()))
        raise StudioError(f"cannot be converted to PyTorch: onnx2torch has no converter for {ops} (opset {opset})", model.source)
    try:
        module = convert(proto).eval()
    except Exception as e:  # onnx2torch raises NotImplementedError for unsupported attributes, and others
        raise StudioError(f"cannot be converted to PyTorch: {type(e).__name__}: {str(e).splitlines()[0][:160]}", model.source) from e
    places, unplaced = _places(proto, module)
    if unplaced:
        raise StudioError(f"converted to PyTorch, but {len(unplaced)} trainable tensors (e.g. {unplaced[0]}) have no place in the "
                          "ONNX graph to go back to", model.source)
    return replace(model, format=Format.CONVERTED, module=module, onnx=None, external={}, origin=Origin(proto, places))


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
    """The graph the module came from, with the module's tensors written into its initializers."""
    origin: Origin = model.origin
    proto = onnx.ModelProto()
    proto.CopyFrom(origin.proto)
    state = {k: v.detach().cpu().numpy() for k, v in model.module.state_dict().items()}
    for init in proto.graph.initializer:
        if init.name in origin.places:
            key, how = origin.places[init.name]
            value = state[key].T if how == "T" else state[key]
            init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(value.reshape(tuple(init.dims))).astype(value.dtype), init.name))
    return replace(model, format=Format.ONNX, onnx=proto, module=None, origin=None, size_bytes=proto.ByteSize())


def _places(proto: onnx.ModelProto, module) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Which initializer each float tensor of the module's state_dict holds: one of its own node's
    inputs (onnx2torch names each submodule after its node), matched by value; and the trainable
    tensors matched to none. Tensors onnx2torch keeps as plain buffers never train and stay as they were."""
    from onnx2torch.onnx_graph import OnnxGraph

    nodes = OnnxGraph(proto.graph).nodes
    inits = {i.name: i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    places, trainable = {}, {name for name, p in module.named_parameters() if p.requires_grad}
    for key, tensor in module.state_dict().items():
        node = nodes.get(key.split(".", 1)[0])
        if node is None or not tensor.is_floating_point():
            continue
        value = tensor.detach().cpu().numpy()
        for name in node.input_values:
            if name in inits and name not in places:
                how = _same(value, numpy_helper.to_array(inits[name]))
                if how:
                    places[name] = (key, how)
                    break
    placed = {key for key, _ in places.values()}
    return places, sorted(trainable - placed)


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
