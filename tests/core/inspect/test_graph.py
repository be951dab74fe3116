"""The layer graph's own structure: nodes numbered as added, edges between different nodes, and
control-flow bodies counted with the nodes that hold them."""

from studio.core.inspect.graph import Graph


def test_nodes_are_numbered_in_the_order_they_are_added():
    graph = Graph()
    a = graph.add("x", "Input", shape=(1, 4))
    b = graph.add("fc", "Linear", layer="fc")
    assert (a.id, b.id) == (0, 1) and graph.nodes == [a, b]
    assert (b.name, b.type, b.layer, b.shape, b.subgraphs) == ("fc", "Linear", "fc", None, {})


def test_a_node_is_never_connected_to_itself():
    graph = Graph()
    a, b = graph.add("a", "Relu"), graph.add("b", "Relu")
    graph.connect(a.id, b.id, "t")
    graph.connect(b.id, b.id, "loop")
    assert [(e.src, e.dst, e.tensor) for e in graph.edges] == [(0, 1, "t")]


def test_node_count_includes_nested_subgraphs():
    inner = Graph()
    inner.add("mul", "Mul")
    innermost = Graph()
    innermost.add("add", "Add")
    innermost.add("out", "Output")
    inner.nodes[0].subgraphs["body"] = innermost
    graph = Graph()
    graph.add("x", "Input")
    graph.add("if", "If").subgraphs["then_branch"] = inner
    assert graph.node_count() == 2 + 1 + 2
    assert Graph(note="no architecture").node_count() == 0
