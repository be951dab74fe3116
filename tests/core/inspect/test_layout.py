import random

import numpy as np
import pytest

from studio.core.inspect.graph import Graph
from studio.core.inspect.layout import layered_layout


def graph_of(n: int, edges) -> Graph:
    g = Graph()
    for i in range(n):
        g.add(f"n{i}", "Op")
    for a, b in edges:
        g.connect(a, b)
    return g


def random_dag(n: int, extra: int, seed: int) -> Graph:
    rng = random.Random(seed)
    edges = [(rng.randrange(max(0, i - 4), i), i) for i in range(1, n)]
    edges += [tuple(sorted(rng.sample(range(n), 2))) for _ in range(extra)]
    return graph_of(n, edges)


def assert_no_overlap(layout, gap=0.0):
    x, y, w, h = layout.x, layout.y, layout.widths, layout.height
    dx = np.abs(x[:, None] - x[None, :]) - (w[:, None] + w[None, :]) / 2
    dy = np.abs(y[:, None] - y[None, :]) - h
    clash = (dx < gap - 1e-6) & (dy < -1e-6)
    np.fill_diagonal(clash, False)
    assert not clash.any(), np.argwhere(clash)[:5]


@pytest.mark.parametrize("seed", range(5))
def test_edges_point_down_and_boxes_do_not_overlap(seed):
    g = random_dag(150, 60, seed)
    widths = np.random.default_rng(seed).uniform(60, 220, len(g.nodes))
    layout = layered_layout(g, widths=widths, node_gap=20)
    for e in g.edges:
        assert layout.row[e.src] < layout.row[e.dst]
        assert layout.y[e.src] < layout.y[e.dst]
    assert_no_overlap(layout, gap=20)
    assert np.array_equal(layout.widths, widths)


def test_edge_polylines_run_from_source_box_to_target_box():
    g = random_dag(60, 30, 7)
    layout = layered_layout(g)
    h = layout.height / 2
    for e, line in zip(g.edges, layout.edges):
        assert line.shape[1] == 2 and len(line) >= 2
        assert line[0, 1] == pytest.approx(layout.y[e.src] + h) and line[-1, 1] == pytest.approx(layout.y[e.dst] - h)
        assert abs(line[0, 0] - layout.x[e.src]) < layout.widths[e.src] / 2
        assert abs(line[-1, 0] - layout.x[e.dst]) < layout.widths[e.dst] / 2
        assert np.all(np.diff(line[:, 1]) >= 0)


def test_edges_meeting_a_box_side_get_their_own_ends():
    layout = layered_layout(graph_of(5, [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)]))
    starts = sorted(line[0, 0] for line in layout.edges[:3])
    ends = sorted(line[-1, 0] for line in layout.edges[3:])
    assert np.all(np.diff(starts) > 5) and np.all(np.diff(ends) > 5)


def test_a_chain_is_a_straight_column_and_skip_edges_go_around_it():
    chain = [(i, i + 1) for i in range(7)]
    layout = layered_layout(graph_of(9, chain + [(0, 8), (1, 5)]))
    assert np.ptp(layout.x[:8]) == pytest.approx(0, abs=1)
    skip = layout.edges[-1]  # 1 → 5 passes beside nodes 2, 3, 4
    assert np.all(np.abs(skip[1:-1, 0] - layout.x[2]) >= layout.widths[2] / 2)


def test_cycles_and_self_loops_do_not_crash():
    g = graph_of(4, [(0, 1), (1, 2), (2, 0), (2, 3), (3, 1)])
    g.edges.append(type(g.edges[0])(3, 3))
    layout = layered_layout(g)
    assert np.all(np.isfinite(layout.x)) and np.all(np.isfinite(layout.y))
    assert len(layout.edges) == len(g.edges)
    for e, line in zip(g.edges[:-1], layout.edges):
        assert len(line) >= 2  # a reversed edge still runs from its source to its target
        assert line[0][1] == pytest.approx(layout.y[e.src] + (1 if layout.y[e.src] < layout.y[e.dst] else -1) * layout.height / 2)
    assert len(layout.edges[-1]) == 0
    assert_no_overlap(layout)


def test_two_way_edge_is_drawn_both_ways():
    layout = layered_layout(graph_of(2, [(0, 1), (1, 0)]))
    a, b = layout.edges
    assert np.array_equal(a, b[::-1])


def test_empty_graph():
    layout = layered_layout(Graph())
    assert len(layout.x) == 0 and layout.edges == []
    assert layout.bounds() == (0.0, 0.0, 0.0, 0.0)


def test_disconnected_parts_and_lone_nodes_sit_apart():
    edges = [(0, 1), (1, 2), (3, 4), (4, 5), (5, 6)]
    layout = layered_layout(graph_of(10, edges))  # 7, 8, 9 have no edges
    assert_no_overlap(layout, gap=1)
    for a, b in edges:
        assert layout.y[a] < layout.y[b]


def test_many_parts_wrap_onto_shelves():
    layout = layered_layout(graph_of(200, []))
    left, top, right, bottom = layout.bounds()
    assert right - left < 3000 and bottom > top + layout.height
    assert_no_overlap(layout)


def test_far_reaching_edges_past_the_dummy_budget_are_drawn_straight():
    n = 300
    g = graph_of(n, [(i, i + 1) for i in range(n - 1)] + [(i, n - 1 - i) for i in range(n // 2 - 5)])
    layout = layered_layout(g)
    assert min(len(line) for line in layout.edges) == 2
    assert_no_overlap(layout)


def test_a_list_without_edges_is_a_landscape_grid_in_reading_order():
    g = Graph()
    for i in range(9):
        g.add(f"block{i}", "Block")
    layout = layered_layout(g, widths=[200.0] * 9)
    rows = sorted(set(layout.y.tolist()))
    assert len(rows) == 3  # 9 blocks: three rows of three, not one long row that wraps at 1,600
    left, top, right, bottom = layout.bounds()
    assert right - left > bottom - top  # wider than tall, like a canvas
    order = sorted(range(9), key=lambda i: (layout.y[i], layout.x[i]))
    assert order == list(range(9))
