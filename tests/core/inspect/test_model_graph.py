"""The layer graph of any model, from the builder for what the model holds."""

from onnx_cases import LENET5_CHAIN, graph_chain

from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx
from studio.core.inspect.model_graph import graph_of


def test_every_format_gives_the_same_chain_length(files):
    for kind in ("torchscript", "pt2", "onnx", "onnx_dynamo"):
        graph = graph_of(load_model(str(files[kind])))
        assert len(graph_chain(graph)) == len(LENET5_CHAIN), kind
        assert sum(n.layer is not None for n in graph.nodes if n.type not in ("MaxPool", "Reshape")) >= 4


def test_state_dict_has_no_graph_and_says_why(files):
    graph = graph_of(load_model(str(files["state_dict"])))
    assert not graph.nodes and "architecture" in graph.note


def test_a_version_exported_to_onnx_shows_its_onnx_operators():
    sample = load_model("sample:lenet-5")
    types = [n.type for n in graph_chain(graph_of(to_onnx(sample)))]
    assert types[0] == "Input" and types[-1] == "Output"
    assert types.count("Conv") == 2 and types.count("Gemm") == 2 and "Linear" not in types
    assert "Linear" in [n.type for n in graph_of(sample).nodes]  # the module itself: its layer classes
