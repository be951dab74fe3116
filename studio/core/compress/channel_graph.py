"""A model converted from ONNX (formats/onnx_to_torch: an onnx2torch GraphModule) made followable by
Torch-Pruning, which traces autograd and knows torch's own layers but not what an ONNX graph writes in:

- a split of a convolution's channels (YOLOv8's C2f) becomes one convolution per part, the way
  Torch-Pruning's own YOLOv8 example rewrites C2f into C2f_v2: the split sizes are constants of the
  graph, and Torch-Pruning loses track of a part that feeds two layers;
- a per-channel constant of an elementwise operator (a bias added after a transposed convolution)
  becomes a parameter handed to Torch-Pruning as an unwrapped parameter, so it is cut with its channels;
- the layers whose output channels the graph fixes (they reach an output, a reshape to a written
  shape, a transpose or a slice before any other layer: a detector's head, a class layer) are found,
  to be left whole."""

from __future__ import annotations

import operator

import torch
from torch.fx.passes.shape_prop import ShapeProp

from studio.core.formats.onnx_to_torch import tidy

LAYERS = (torch.nn.modules.conv._ConvNd, torch.nn.Linear)
# onnx2torch operators after which a layer's channels are no longer its own to change: they move the
# channel axis, index it, or give the tensor a shape written into the graph
FIXING = ("OnnxReshape", "OnnxSplit", "OnnxSlice", "OnnxGather", "OnnxTranspose", "OnnxSqueeze", "OnnxUnsqueeze",
          "OnnxExpand", "OnnxTile", "OnnxMatMul", "OnnxGemm", "OnnxDepthToSpace", "OnnxEinsum", "OnnxReduce",
          "OnnxScatterND", "OnnxTopK", "OnnxArgExtremum", "OnnxLayerNorm", "LSTM", "MatMulLinear")


def prepare(module: torch.fx.GraphModule, example: tuple) -> dict:
    """Rewrites `module` in place (channel splits) and returns what Torch-Pruning needs besides:
    {"unwrapped": [(parameter, channel axis)], "fixed": [layers to leave whole]}."""
    _shapes(module, example)
    splits = split_convolutions(module)
    if splits:
        _shapes(module, example)
    return {"unwrapped": channel_constants(module), "fixed": fixed_layers(module)}


def _shapes(module: torch.fx.GraphModule, example: tuple) -> None:
    with torch.no_grad():
        ShapeProp(module).propagate(*example)


def _meta(node) -> torch.Size | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, torch.fx.Node) else None
    return getattr(meta, "shape", None)


def _module(module, node):
    return module.get_submodule(node.target) if node.op == "call_module" else None


def _stateless(m) -> bool:
    return m is not None and not isinstance(m, LAYERS) and next(m.parameters(), None) is None and next(m.buffers(), None) is None


def _kind(m) -> str:
    return type(m).__name__


def _split_sizes(module, node) -> list[int] | None:
    """The sizes along axis 1 of an onnx2torch Split, or None where it splits another axis."""
    m, shape = _module(module, node), _meta(node.args[0])
    if shape is None or m.axis % len(shape) != 1:
        return None
    if len(node.args) > 1 and node.args[1] is not None:  # Split-13: the sizes are an input, a constant of the graph
        source = node.args[1]
        if not isinstance(source, torch.fx.Node) or source.op != "get_attr":
            return None
        return [int(v) for v in _attr(module, source.target).tolist()]
    split = getattr(m, "split", None)  # Split-2/11 keeps its sizes as an attribute; none means equal parts
    return list(split) if split is not None else [shape[1] // m.num_splits] * m.num_splits


def _attr(module, target: str):
    value = module
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _chain(module, node) -> tuple[torch.fx.Node, list[torch.fx.Node]] | None:
    """(the convolution, the stateless operators after it in graph order) when `node` is computed from
    one convolution's output alone (Conv → Sigmoid, Mul: SiLU), each step used nowhere else."""
    inside, conv, stack = set(), None, [node]
    while stack:
        n = stack.pop()
        if n in inside:
            continue
        m = _module(module, n)
        if isinstance(m, torch.nn.modules.conv._ConvNd) and not m.transposed and m.groups == 1:
            if conv not in (None, n):
                return None
            conv = n
        elif not _stateless(m) or n.kwargs:
            return None
        else:
            stack.extend(a for a in n.args if isinstance(a, torch.fx.Node))
            if any(not isinstance(a, torch.fx.Node) for a in n.args):
                return None
        inside.add(n)
    if conv is None or any(u not in inside for n in inside - {node} for u in n.users):
        return None
    order = [n for n in node.graph.nodes if n in inside and n is not conv]
    return conv, order


def split_convolutions(module: torch.fx.GraphModule) -> int:
    """Each channel split of one convolution's output becomes that many convolutions, each computing its
    part (the operators between them copied per part). Returns how many splits were rewritten."""
    graph, done = module.graph, 0
    for split in [n for n in graph.nodes if _kind(_module(module, n)).startswith("OnnxSplit")]:
        sizes = _split_sizes(module, split)
        found = _chain(module, split.args[0]) if sizes else None
        if found is None or any(u.op != "call_function" or u.target is not operator.getitem for u in split.users):
            continue
        conv_node, steps = found
        conv, start, parts = _module(module, conv_node), 0, []
        for i, size in enumerate(sizes):
            part = torch.nn.modules.conv.__dict__[type(conv).__name__](
                conv.in_channels, size, conv.kernel_size, conv.stride, conv.padding, conv.dilation, 1, conv.bias is not None,
                conv.padding_mode)
            with torch.no_grad():
                part.weight.copy_(conv.weight[start:start + size])
                if conv.bias is not None:
                    part.bias.copy_(conv.bias[start:start + size])
            name = f"{conv_node.target}/part{i}"
            module.add_submodule(name, part.to(conv.weight.device).train(conv.training))
            with graph.inserting_before(split):
                copies = {conv_node: graph.call_module(name, conv_node.args, conv_node.kwargs)}
                for step in steps:
                    copies[step] = graph.node_copy(step, lambda a: copies[a])
            parts.append(copies[split.args[0]])
            start += size
        for user in list(split.users):
            user.replace_all_uses_with(parts[user.args[1]])
            graph.erase_node(user)
        graph.erase_node(split)
        done += 1
    return tidy(module, done)


def channel_constants(module: torch.fx.GraphModule) -> list[tuple[torch.nn.Parameter, int]]:
    """Constants of one value per channel ([1, C, 1, 1], [C, 1, 1]) that an elementwise operator applies
    to a layer's output, made parameters: (parameter, its channel axis) for Torch-Pruning."""
    graph, found = module.graph, []
    for node in list(graph.nodes):
        m = _module(module, node)
        if _kind(m) != "OnnxBinaryMathOperation" or len(node.args) != 2:
            continue
        for const, other in (node.args, node.args[::-1]):
            value = _constant(module, const)
            shape = _meta(other)
            if value is None or shape is None or not value.is_floating_point() or len(shape) < 2 or value.dim() > len(shape):
                continue
            axis = value.dim() - (len(shape) - 1)  # the axis of `value` that meets the channel axis
            if axis < 0 or value.shape[axis] != shape[1] or shape[1] < 2 or value.numel() != shape[1]:
                continue
            name = f"channel_constant_{len(found)}"
            parameter = torch.nn.Parameter(value.detach().clone())
            module.register_parameter(name, parameter)
            with graph.inserting_before(node):
                node.replace_input_with(const, graph.get_attr(name))
            found.append((parameter, axis))
    tidy(module, len(found))
    return found


def _constant(module, node) -> torch.Tensor | None:
    """The value of a node computed from constants alone (a Paddle export reshapes a bias [C] to
    [1, C, 1, 1] in the graph), used by that one operator; None for anything computed from the inputs."""
    if not isinstance(node, torch.fx.Node) or len(node.users) != 1:
        return None
    if node.op == "get_attr":
        value = _attr(module, node.target)
        return value if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter) else None
    m = _module(module, node)
    if _kind(m) == "OnnxConstant" and not node.args:
        value = getattr(m, "value", None)
        return value if isinstance(value, torch.Tensor) else None
    if not _stateless(m) or node.kwargs or not node.args or not all(isinstance(a, torch.fx.Node) for a in node.args):
        return None
    values = [_constant(module, a) for a in node.args]
    if any(v is None for v in values):
        return None
    with torch.no_grad():
        value = m(*values)
    return value if isinstance(value, torch.Tensor) else None


def fixed_layers(module: torch.fx.GraphModule) -> list[torch.nn.Module]:
    """The layers whose output reaches an output of the model or an operator in FIXING (or a concat along
    another axis) before it reaches another layer: their output channels are part of the format."""
    fixed = []
    for node in module.graph.nodes:
        layer = _module(module, node)
        if not isinstance(layer, LAYERS):
            continue
        if _kind(layer) == "MatMulLinear":  # a MatMul's channels lie on its last axis, not the one followed here
            fixed.append(layer)
            continue
        seen, stack = set(), list(node.users)
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            m = _module(module, n)
            if n.op == "output" or _fixes(module, n, m):
                fixed.append(layer)
                break
            if not isinstance(m, LAYERS):
                stack.extend(n.users)
    return fixed


def _fixes(module, node, m) -> bool:
    kind = _kind(m)
    if kind == "OnnxConcat":
        shape = _meta(node)
        return shape is None or m.axis % len(shape) != 1
    return kind.startswith(FIXING)
