import torch
from onnx_cases import if_subgraph_onnx

from studio.core.formats.load import load_model
from studio.core.inspect.model_graph import graph_of

LENET5_CHAIN = ["Input", "conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "relu", "fc2", "Output"]


def _chain(graph):
    order = [graph.nodes[0]]
    nxt = {e.src: e.dst for e in graph.edges}
    while order[-1].id in nxt:
        order.append(graph.nodes[nxt[order[-1].id]])
    return order


def test_sample_graph_is_the_layer_chain_with_shapes():
    graph = graph_of(load_model("sample:lenet-5"))
    chain = _chain(graph)
    assert [n.type if n.type in ("Input", "Output") else n.name for n in chain] == LENET5_CHAIN
    assert graph.nodes[1].shape == (1, 20, 24, 24) and graph.nodes[1].layer == "conv1"


def test_every_format_gives_the_same_chain_length(files):
    for kind in ("torchscript", "pt2", "onnx", "onnx_dynamo"):
        graph = graph_of(load_model(str(files[kind])))
        assert len(_chain(graph)) == len(LENET5_CHAIN), kind
        assert sum(n.layer is not None for n in graph.nodes if n.type not in ("MaxPool", "Reshape")) >= 4


def test_onnx_control_flow_bodies_are_subgraphs(tmp_path):
    if_subgraph_onnx(tmp_path / "if.onnx")
    graph = graph_of(load_model(str(tmp_path / "if.onnx")))
    branch = next(n for n in graph.nodes if n.type == "If")
    assert set(branch.subgraphs) == {"then_branch", "else_branch"}
    assert branch.subgraphs["then_branch"].nodes[0].type == "Mul"
    assert graph.node_count() == len(graph.nodes) + 4  # Mul + Output, Add + Output


def test_untraceable_module_still_lists_its_layers():
    class Dynamic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x) if x.sum() > 0 else self.b(x)

    from studio.core.formats.model import Format, Model

    graph = graph_of(Model("dyn", Format.PICKLED_MODULE, module=Dynamic()))
    assert [n.name for n in graph.nodes] == ["a", "b"] and "traced" in graph.note


def test_state_dict_has_no_graph_and_says_why(files):
    graph = graph_of(load_model(str(files["state_dict"])))
    assert not graph.nodes and "architecture" in graph.note
