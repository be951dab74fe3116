"""ONNX's If for onnx2torch, which has no converter for it: both branches are converted to PyTorch
modules of their own, and the condition picks one on every call, as ONNX Runtime does. A model whose
branches depend on its inputs (Silero VAD's sample rate; the batch size, in its nested Ifs) stays the
same model for every input, and only the branch a batch runs trains.

A branch reads values of the graph around it by name. Those that are constants there (initializers,
Constant nodes) are copied into the branch, so its layers own their weights; the others become inputs
of the branch module, passed in by the If node."""

from __future__ import annotations

import onnx
import torch
from onnx import defs

from studio.core.formats.load_onnx import free_names
from studio.core.formats.onnx_computed import OPSETS, stored

BRANCHES = ("then_branch", "else_branch")
VERSIONS = sorted({defs.get_schema("If", max_inclusive_version=v).since_version for v in range(1, defs.onnx_opset_version() + 1)})


class If(torch.nn.Module):
    def __init__(self, then_branch: torch.nn.Module, else_branch: torch.nn.Module):
        super().__init__()
        self.then_branch, self.else_branch = then_branch, else_branch

    def forward(self, condition: torch.Tensor, *outer: torch.Tensor):
        return (self.then_branch if bool(condition) else self.else_branch)(*outer)


def convert(node, graph):
    """onnx2torch's converter for If: each branch is converted as a model of its own."""
    from onnx2torch import convert as onnx2torch_convert
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult

    branches = {a.name: a.g for a in node.proto.attribute if a.name in BRANCHES}
    outer = sorted(set().union(*(free_names(g) for g in branches.values())))
    constants = {name: stored(name, graph) for name in outer}
    passed = [name for name in outer if constants[name] is None]
    modules = {name: onnx2torch_convert(_branch_model(g, passed, constants, graph, OPSETS.get())) for name, g in branches.items()}
    return OperationConverterResult(torch_module=If(modules["then_branch"], modules["else_branch"]),
                                    onnx_mapping=OnnxMapping(inputs=(node.input_values[0], *passed), outputs=node.output_values))


def _branch_model(branch: onnx.GraphProto, passed: list[str], constants: dict, graph, opset) -> onnx.ModelProto:
    """A branch as a model of its own: the outer values it reads as inputs (all of `passed`, so both
    branches take the same arguments) or initializers, and each output made by an Identity of its own,
    since onnx2torch returns a node's outputs, not a graph's values."""
    g = onnx.GraphProto()
    g.CopyFrom(branch)
    g.initializer.extend(t for name, t in constants.items() if t is not None and name in free_names(branch))
    del g.input[:]
    g.input.extend(_value_info(name, graph) for name in passed)
    for out in g.output:
        returned = f"{out.name}__returned"
        g.node.append(onnx.helper.make_node("Identity", [out.name], [returned], name=returned))
        out.name = returned
    return onnx.helper.make_model(g, opset_imports=opset)


def _value_info(name: str, graph) -> onnx.ValueInfoProto:
    if name in graph.value_info:
        return graph.value_info[name]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)  # the type shape inference left unknown
