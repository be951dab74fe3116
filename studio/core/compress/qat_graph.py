"""Quantization-aware training of a model given as ONNX, rounding exactly the tensors ONNX Runtime rounds.

ORT's static int8 of the float model says which activations it quantizes and each one's uint8 grid (the
scale and zero point of its QuantizeLinear). The converted module (onnx2torch: one submodule per ONNX
node) gets a fake quantization on each of those tensors — residual sums, activations and pooled maps as
well as the layers' inputs and outputs — and the final static int8 is handed the same grids
(TensorQuantOverrides), so the rounding the model trained with is the rounding that runs. A tensor that
ORT's pre-processing made (a fused node's output) or that the conversion rewrote has no place in the
module: ORT calibrates it as usual after training."""

from __future__ import annotations

from operator import getitem

import numpy as np
import onnx
import torch
from onnx import numpy_helper

RENAMED = "_QuantizeLinear_Input"  # ORT's name for a graph output it quantizes (the output keeps its own)


class TensorFakeQuant(torch.nn.Module):
    """Rounds a tensor to a uint8 grid, as a QuantizeLinear → DequantizeLinear pair does (straight-through gradient)."""

    def __init__(self, scale: float, zero_point: int):
        super().__init__()
        self.scale, self.zero_point = scale, zero_point

    def forward(self, x):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            return x
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, 0, 255)


def activation_grids(quantized: onnx.ModelProto) -> dict[str, tuple[float, int]]:
    """{tensor: (scale, zero point)} of every uint8 activation in ORT's QDQ result, by its float name."""
    inits = {t.name: t for t in quantized.graph.initializer}
    grids = {}
    for node in quantized.graph.node:
        if node.op_type != "QuantizeLinear" or len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            continue
        scale, zero = numpy_helper.to_array(inits[node.input[1]]), numpy_helper.to_array(inits[node.input[2]])
        if scale.size == 1 and zero.dtype == np.uint8:
            grids[node.input[0].removesuffix(RENAMED)] = (float(scale.reshape(-1)[0]), int(zero.reshape(-1)[0]))
    return grids


def insert(module: torch.fx.GraphModule, graph: onnx.GraphProto, grids: dict[str, tuple[float, int]]) -> list[str]:
    """Fake quantization after every node of `module` (an onnx2torch conversion of `graph`) that computes a
    tensor of `grids`; returns the tensors placed (changed in place)."""
    from onnx2torch.onnx_graph import OnnxGraph

    made = {out: (name, k, len(node.output_values)) for name, node in OnnxGraph(graph).nodes.items()
            for k, out in enumerate(node.output_values)}
    weights = {t.name for t in graph.initializer}
    fx_graph = module.graph
    placeholders = dict(zip([i.name for i in graph.input if i.name not in weights], [n for n in fx_graph.nodes if n.op == "placeholder"]))
    calls = {n.target: n for n in fx_graph.nodes if n.op == "call_module"}
    placed, inserted = [], 0
    for tensor, (scale, zero) in grids.items():
        if tensor in placeholders:
            sources = [placeholders[tensor]]
        elif tensor in made and made[tensor][0] in calls:
            name, k, count = made[tensor]
            call = calls[name]
            # a node of several outputs: each use takes its output through getitem
            sources = [call] if count == 1 else [u for u in call.users if u.target is getitem and u.args[1] == k]
        else:
            continue
        if not sources:
            continue
        for source in sources:
            target, inserted = f"qat_fake_quant_{inserted}", inserted + 1
            module.add_module(target, TensorFakeQuant(scale, zero))
            users = list(source.users)
            with fx_graph.inserting_after(source):
                rounded = fx_graph.call_module(target, (source,))
            for user in users:
                user.replace_input_with(source, rounded)
        placed.append(tensor)
    module.recompile()
    return placed


def remove(module: torch.fx.GraphModule) -> None:
    """Take every fake quantization `insert` placed out of the module again."""
    for node in list(module.graph.nodes):
        if node.op == "call_module" and isinstance(module.get_submodule(node.target), TensorFakeQuant):
            node.replace_all_uses_with(node.args[0])
            module.graph.erase_node(node)
    module.delete_all_unused_submodules()
    module.recompile()


def overrides(grids: dict[str, tuple[float, int]], tensors: list[str]) -> dict:
    """ORT's TensorQuantOverrides giving each of `tensors` its grid."""
    return {t: [{"scale": np.array(grids[t][0], dtype=np.float32), "zero_point": np.array(grids[t][1], dtype=np.uint8)}]
            for t in tensors}
