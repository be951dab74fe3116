"""Layer graphs of PyTorch models: torch.fx for eager modules, TorchScript's inlined graph, and the
flattened graph of a torch.export program."""

import torch
from onnx_cases import LENET5_CHAIN, graph_chain

from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.inspect.graph_torch import exported_graph, module_graph, torchscript_graph
from studio.core.inspect.model_graph import graph_of


def test_sample_graph_is_the_layer_chain_with_shapes():
    graph = graph_of(load_model("sample:lenet-5"))
    chain = graph_chain(graph)
    assert [n.type if n.type in ("Input", "Output") else n.name for n in chain] == LENET5_CHAIN
    assert graph.nodes[1].shape == (1, 20, 24, 24) and graph.nodes[1].layer == "conv1"


def test_untraceable_module_still_lists_its_layers():
    class Dynamic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x) if x.sum() > 0 else self.b(x)

    graph = graph_of(Model("dyn", Format.PICKLED_MODULE, module=Dynamic()))
    assert [n.name for n in graph.nodes] == ["a", "b"] and "traced" in graph.note


def test_function_calls_are_nodes_and_shapes_follow_the_declared_inputs():
    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x):
            return torch.relu(self.fc(x) + x)

    model = Model("res", Format.PICKLED_MODULE, inputs=[TensorSpec("x", ("batch", 4))], module=Residual())
    graph = module_graph(model)
    nodes = {n.name: n for n in graph.nodes}
    assert nodes["fc"].type == "Linear" and nodes["fc"].layer == "fc" and nodes["fc"].shape == (1, 4)
    assert nodes["add"].type == "add" and nodes["relu"].type == "relu" and nodes["add"].layer is None
    edges = {(graph.nodes[e.src].name, graph.nodes[e.dst].name) for e in graph.edges}
    assert {("x", "fc"), ("fc", "add"), ("x", "add"), ("add", "relu"), ("relu", "output")} == edges


def test_a_torchscript_graph_names_the_layers_and_their_classes(files):
    model = load_model(str(files["torchscript"]))
    graph = torchscript_graph(model.module)
    layers = {n.layer: n.type for n in graph.nodes if n.layer}
    assert layers == {"conv1": "Conv2d", "conv2": "Conv2d", "fc1": "Linear", "fc2": "Linear"}
    assert [n.type for n in graph.nodes if n.type in ("Input", "Output")] == ["Input", "Output"]
    assert len(graph_chain(graph)) >= 8  # the layers and the functions between them, input to output


def test_a_torch_export_graph_ties_each_op_to_the_layer_whose_weights_it_uses(files):
    model = load_model(str(files["pt2"]))
    graph = exported_graph(model.program)
    layers = {n.layer for n in graph.nodes if n.layer}
    assert layers == {"conv1", "conv2", "fc1", "fc2"}
    assert not any(n.name.startswith("p_") for n in graph.nodes)  # weights are not nodes
    first = graph.nodes[0]
    assert first.type == "Input" and first.shape == (2, 1, 28, 28)
