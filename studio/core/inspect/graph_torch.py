"""Layer graphs of PyTorch models: torch.fx for eager modules, the inlined TorchScript graph, and the
flattened graph of a torch.export program."""

from __future__ import annotations

import torch
import torch.fx

from studio.core.errors import first_line
from studio.core.formats.model import Model
from studio.core.inspect.graph import Graph
from studio.core.process.locks import MODULE_LOCK

# TorchScript nodes that only bundle or unbundle values: edges pass through them.
_TS_PASSTHROUGH = {
    "prim::ListConstruct", "prim::TupleConstruct", "prim::ListUnpack", "prim::TupleUnpack",
    "prim::NumToTensor", "aten::Int", "aten::size", "prim::dtype", "prim::device",
}


def module_graph(model: Model) -> Graph:
    """One node per leaf-module call or function, from symbolic tracing; shapes when inputs are known."""
    with MODULE_LOCK:
        try:
            traced = torch.fx.symbolic_trace(model.module)
        except Exception as e:  # tracing fails on data-dependent control flow: show the layers, say why
            return _layer_list(model.module, f"the forward pass could not be traced ({first_line(e)}); layers shown without edges")
        if model.input_shapes_known:
            from torch.fx.passes.shape_prop import ShapeProp

            try:
                ShapeProp(traced).propagate(*[torch.zeros(*(d if isinstance(d, int) else 1 for d in s.shape)) for s in model.inputs])
            except Exception:  # shapes are extra information; a graph without them is still right
                pass
    modules = dict(traced.named_modules())
    graph, ids = Graph(), {}
    for n in traced.graph.nodes:
        if n.op == "get_attr":
            continue
        meta = n.meta.get("tensor_meta")
        shape = tuple(meta.shape) if hasattr(meta, "shape") else None
        if n.op == "placeholder":
            node = graph.add(n.name, "Input", shape=shape)
        elif n.op == "output":
            node = graph.add("output", "Output")
        elif n.op == "call_module":
            node = graph.add(n.target, type(modules[n.target]).__name__, layer=n.target, shape=shape)
        else:
            fn = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
            node = graph.add(n.name, fn, shape=shape)
        ids[n] = node.id
        for arg in n.all_input_nodes:
            if arg in ids:
                graph.connect(ids[arg], node.id, arg.name)
    return graph


def torchscript_graph(module) -> Graph:
    types = {name: getattr(m, "original_name", type(m).__name__) for name, m in module.named_modules()}
    return _ts_block(module.inlined_graph, types)


def _ts_block(block, types) -> Graph:
    graph = Graph()
    producers: dict[str, set[int]] = {}
    owner: dict[str, str] = {}  # value name → module path, for prim::GetAttr chains
    for i, inp in enumerate(block.inputs()):
        if i == 0 and inp.type().kind() == "ClassType":
            owner[inp.debugName()] = ""
            continue
        producers[inp.debugName()] = {graph.add(inp.debugName(), "Input").id}
    for n in block.nodes():
        kind = n.kind()
        ins = [v.debugName() for v in n.inputs()]
        outs = [v.debugName() for v in n.outputs()]
        if kind == "prim::GetAttr":
            base = owner.get(ins[0])
            if base is not None:
                owner[outs[0]] = f"{base}.{n.s('name')}" if base else n.s("name")
            continue
        if kind == "prim::Constant":
            continue
        if kind in _TS_PASSTHROUGH:
            merged = set().union(*(producers.get(v, set()) for v in ins)) if ins else set()
            for o in outs:
                producers[o] = merged
            continue
        params = [owner[v] for v in ins if v in owner]
        layer = params[0].rsplit(".", 1)[0] if params and "." in params[0] else None
        name = layer if layer is not None else (outs[0] if outs else kind)
        node = graph.add(name, types.get(layer, kind.split("::")[-1]) if layer else kind.split("::")[-1], layer=layer)
        for j, sub in enumerate(n.blocks()):
            node.subgraphs[f"block{j}"] = _ts_block(sub, types)
        for v in ins:
            for src in producers.get(v, ()):
                graph.connect(src, node.id, v)
        for o in outs:
            producers[o] = {node.id}
    for v in block.outputs():
        out = graph.add("output", "Output")
        for src in producers.get(v.debugName(), ()):
            graph.connect(src, out.id, v.debugName())
    return graph


def exported_graph(program) -> Graph:
    sig = program.graph_signature
    weights = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    graph, ids = Graph(), {}
    for n in program.graph.nodes:
        val = n.meta.get("val")
        shape = tuple(int(d) if str(d).isdigit() else str(d) for d in val.shape) if hasattr(val, "shape") else None
        if n.op == "placeholder":
            if n.name in weights:
                continue
            node = graph.add(n.name, "Input", shape=shape)
        elif n.op == "output":
            node = graph.add("output", "Output")
        else:
            used = [weights[a.name] for a in n.all_input_nodes if a.name in weights]
            layer = used[0].rsplit(".", 1)[0] if used and "." in used[0] else (used[0] if used else None)
            op = getattr(n.target, "__name__", str(n.target)).split(".")[0]
            node = graph.add(n.name, op, layer=layer, shape=shape)
        ids[n] = node.id
        for arg in n.all_input_nodes:
            if arg in ids:
                graph.connect(ids[arg], node.id, arg.name)
    return graph


def _layer_list(module: torch.nn.Module, note: str) -> Graph:
    graph = Graph(note=note)
    for name, sub in module.named_modules():
        if name and not any(True for _ in sub.children()):
            graph.add(name, type(sub).__name__, layer=name)
    return graph
