"""Layered top-to-bottom layout of a layer graph (Sugiyama style), for drawing it.

Each weakly connected part is laid out on its own, then the parts are packed side by side:
back edges are reversed, nodes go on rows by longest path, long edges get one dummy node per row they
cross, barycenter sweeps order each row, and x comes from repeated neighbour averaging followed by
order-keeping overlap removal (an isotonic fit). Every step is linear in nodes + edges per sweep, so
plain Python lists stay fast enough for 10,000 nodes.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np

from studio.core.inspect.graph import Graph

ORDER_SWEEPS = 4  # down + up barycenter passes
PLACE_SWEEPS = 4  # down + up averaging passes for x
DUMMY_BUDGET = 2  # dummy nodes allowed per real node
PORT_GAP = 14.0  # between edge ends fanned out along a box side
PACK_WIDTH = 1600.0  # parts wrap onto a new shelf past this width (or the widest part)


@dataclass
class Layout:
    x: np.ndarray  # centre of each node, in graph.nodes order
    y: np.ndarray
    row: np.ndarray  # layer index within its part, 0 = top
    widths: np.ndarray
    height: float  # of every node
    edges: list[np.ndarray]  # per graph edge: (k, 2) polyline from the source's box to the target's

    def bounds(self) -> tuple[float, float, float, float]:
        """left, top, right, bottom of all boxes."""
        if not len(self.x):
            return 0.0, 0.0, 0.0, 0.0
        h = self.height / 2
        return (float((self.x - self.widths / 2).min()), float(self.y.min() - h),
                float((self.x + self.widths / 2).max()), float(self.y.max() + h))


@dataclass
class _Part:
    x: list[float]  # real nodes first, then dummies
    row: list[int]
    chains: dict[tuple[int, int], list[int]]  # acyclic edge → dummy ids from its source to its target
    reversed: set[tuple[int, int]]  # original edges drawn against the flow


def layered_layout(graph: Graph, widths=None, node_height: float = 40.0, row_gap: float = 40.0,
                   node_gap: float = 24.0) -> Layout:
    # Hundreds of thousands of small lists and tuples, none of them in a cycle: the cycle collector
    # would only rescan them (about 40 % of the time at 10,000 nodes).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _layout(graph, widths, node_height, row_gap, node_gap)
    finally:
        if collecting:
            gc.enable()


def _layout(graph: Graph, widths, node_height: float, row_gap: float, node_gap: float) -> Layout:
    n = len(graph.nodes)
    w = np.full(n, 120.0) if widths is None else np.asarray(widths, dtype=float)
    pairs = list(dict.fromkeys((e.src, e.dst) for e in graph.edges if e.src != e.dst and 0 <= e.src < n and 0 <= e.dst < n))
    x, y, row = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    lines: list[tuple[int, int, list[list[float]], bool]] = []  # source, target, points, drawn both ways
    pitch = node_height + row_gap
    shelf_x = shelf_y = shelf_h = 0.0
    parts = _components(n, pairs)
    limit = max(PACK_WIDTH, max((float(w[p].sum()) for p, _ in parts[:1]), default=0.0))
    if not pairs and n:  # a list without edges (an untraced model's layers, its blocks): a landscape grid, not one long row
        limit = max(float(w.max()), min(limit, float(np.sqrt(3 * (w + 2 * node_gap).sum() * pitch))))
    for members, local_pairs in parts:
        part = _place(len(members), local_pairs, [float(w[m]) for m in members], node_gap)
        ext_w = np.concatenate([w[members], np.zeros(len(part.x) - len(members))])
        px = np.asarray(part.x)
        left, right = float((px - ext_w / 2).min()), float((px + ext_w / 2).max())
        if shelf_x > 0 and shelf_x + right - left > limit:
            shelf_x, shelf_y, shelf_h = 0.0, shelf_y + shelf_h + pitch, 0.0
        px += shelf_x - left
        py = shelf_y + np.asarray(part.row) * pitch + node_height / 2
        x[members], y[members], row[members] = px[: len(members)], py[: len(members)], part.row[: len(members)]
        shelf_x += right - left + 2 * node_gap
        shelf_h = max(shelf_h, float(py.max()) + node_height / 2 - shelf_y)
        h, pxs, pys = node_height / 2, px.tolist(), py.tolist()
        for (a, b), dummies in part.chains.items():
            points = [[pxs[a], pys[a] + h]]
            for d in dummies:
                points += [[pxs[d], pys[d] - h], [pxs[d], pys[d] + h]]
            points.append([pxs[b], pys[b] - h])
            lines.append((members[a], members[b], points, (b, a) in part.reversed))
    _spread_ports(lines, w)
    routes: dict[tuple[int, int], np.ndarray] = {}
    for a, b, points, both_ways in lines:
        routes[(a, b)] = line = np.array(points)
        if both_ways:
            routes[(b, a)] = line[::-1]
    empty = np.zeros((0, 2))
    edges = [routes.get((e.src, e.dst), empty) for e in graph.edges]
    return Layout(x, y, row, w, node_height, edges)


def _spread_ports(lines: list[tuple[int, int, list[list[float]], bool]], widths: np.ndarray) -> None:
    """Where several edges meet one side of a box, fan their ends out along it in the order they come
    from; the edge arriving most nearly straight keeps the middle."""
    sides: dict[tuple[int, float], list[tuple[float, list[list[float]], int]]] = {}
    for a, b, line, _ in lines:
        sides.setdefault((a, line[0][1]), []).append((line[1][0] - line[0][0], line, 0))
        sides.setdefault((b, line[-1][1]), []).append((line[-2][0] - line[-1][0], line, -1))
    for (node, _), ends in sides.items():
        if len(ends) < 2:
            continue
        ends.sort(key=lambda end: end[0])
        middle = min(range(len(ends)), key=lambda j: abs(ends[j][0]))
        step = min(PORT_GAP, max(widths[node] / 2 - 8, 0.0) / max(middle, len(ends) - 1 - middle))
        for j, (_, line, end) in enumerate(ends):
            line[end][0] += (j - middle) * step


def _components(n: int, pairs: list[tuple[int, int]]) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """Weakly connected parts, largest first: (global node ids, edges in local ids)."""
    parent = list(range(n))

    def find(v: int) -> int:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for s, d in pairs:
        rs, rd = find(s), find(d)
        if rs != rd:
            parent[max(rs, rd)] = min(rs, rd)
    groups: dict[int, list[int]] = {}
    for v in range(n):
        groups.setdefault(find(v), []).append(v)
    local = [0] * n
    for members in groups.values():
        for i, v in enumerate(members):
            local[v] = i
    edges: dict[int, list[tuple[int, int]]] = {root: [] for root in groups}
    for s, d in pairs:
        edges[find(s)].append((local[s], local[d]))
    return sorted(((m, edges[r]) for r, m in groups.items()), key=lambda p: -len(p[0]))


def _place(n: int, pairs: list[tuple[int, int]], widths: list[float], gap: float) -> _Part:
    succ: list[list[int]] = [[] for _ in range(n)]
    for s, d in pairs:
        succ[s].append(d)
    back, preorder = _back_edges(n, succ)
    dag = list(dict.fromkeys((d, s) if (s, d) in back else (s, d) for s, d in pairs))
    row = _rows(n, dag)

    # Dummy nodes: one per row a long edge crosses, so ordering and placement see it. Past a budget the
    # longest edges are drawn straight instead, which keeps graphs with many far-reaching edges linear.
    budget = DUMMY_BUDGET * n + 1000
    routed = set()
    for a, b in sorted(dag, key=lambda e: row[e[1]] - row[e[0]]):
        budget -= row[b] - row[a] - 1
        if budget < 0:
            break
        routed.add((a, b))
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    key = [(p, 0) for p in preorder]
    chains: dict[tuple[int, int], list[int]] = {}
    for a, b in dag:
        if (a, b) not in routed:
            chains[(a, b)] = []
            continue
        prev, chain = a, []
        for r in range(row[a] + 1, row[b]):
            d = len(row)
            row.append(r)
            key.append((preorder[a], 1))
            up.append([prev])
            down.append([])
            down[prev].append(d)
            chain.append(d)
            prev = d
        down[prev].append(b)
        up[b].append(prev)
        chains[(a, b)] = chain

    rows: list[list[int]] = [[] for _ in range(max(row, default=-1) + 1)]
    for v in sorted(range(len(row)), key=key.__getitem__):
        rows[row[v]].append(v)
    _order(rows, up, down)
    x = _columns(rows, up, down, widths + [0.0] * (len(row) - n), n, preorder, gap)
    return _Part(x, row, chains, back)


def _order(rows: list[list[int]], up: list[list[int]], down: list[list[int]]) -> None:
    """Reorder each row in place by the mean position of its neighbours, sweeping down then up."""
    pos = [0] * len(up)
    for members in rows:
        for i, v in enumerate(members):
            pos[v] = i
    for sweep in range(ORDER_SWEEPS):
        order, neighbours = (rows[1:], up) if sweep % 2 == 0 else (rows[-2::-1], down)
        for members in order:
            bary = [sum(pos[u] for u in neighbours[v]) / len(neighbours[v]) if neighbours[v] else pos[v] for v in members]
            members[:] = [members[i] for i in sorted(range(len(members)), key=lambda i: (bary[i], i))]
            for i, v in enumerate(members):
                pos[v] = i


def _columns(rows: list[list[int]], up: list[list[int]], down: list[list[int]], widths: list[float], n: int,
             preorder: list[int], gap: float) -> list[float]:
    """x of every node (dummies from n on): each pass moves nodes towards their neighbours, then an
    isotonic fit restores the row's order and spacing. Each node continues the vertical line of at most
    one neighbour above (it is that parent's first child); a line holds its place as hard as it is
    long, so the main chain stays straight while side branches and skip edges bend around it."""
    parent, child = [-1] * len(up), [-1] * len(up)
    for u in sorted(range(n), key=preorder.__getitem__) + list(range(n, len(up))):
        if down[u] and parent[down[u][0]] < 0:
            child[u], parent[down[u][0]] = down[u][0], u
    weight = [0.0] * len(up)
    for head in range(len(up)):
        if parent[head] < 0:
            line = [head]
            while child[line[-1]] >= 0:
                line.append(child[line[-1]])
            strength = sum(1.0 if v < n else 0.1 for v in line)
            for v in line:
                weight[v] = strength
    # Outside its line a dummy holds still: only real nodes pull on what they connect to.
    anchors_up = [[p] if p >= 0 else nb if v < n else [] for v, (p, nb) in enumerate(zip(parent, up))]
    anchors_down = [[c] if c >= 0 else nb if v < n else [] for v, (c, nb) in enumerate(zip(child, down))]

    x = [0.0] * len(up)
    offsets = []
    for members in rows:
        offset, total = [0.0], 0.0
        for a, b in zip(members, members[1:]):
            total += (widths[a] + widths[b]) / 2 + (gap if a < n and b < n else gap / 2)
            offset.append(total)
        offsets.append(offset)
        for v, o in zip(members, offset):
            x[v] = o - total / 2
    for sweep in range(PLACE_SWEEPS):
        order, anchors = (range(1, len(rows)), anchors_up) if sweep % 2 == 0 else (range(len(rows) - 2, -1, -1), anchors_down)
        for r in order:
            members, offset = rows[r], offsets[r]
            want = [sum(x[u] for u in anchors[v]) / len(anchors[v]) if anchors[v] else x[v] for v in members]
            fit = _isotonic([wv - o for wv, o in zip(want, offset)], [weight[v] for v in members])
            for v, o, f in zip(members, offset, fit):
                x[v] = o + f
    return x


def _back_edges(n: int, succ: list[list[int]]) -> tuple[set[tuple[int, int]], list[int]]:
    """Edges that close a cycle in a depth-first search from the sources, and each node's visit order."""
    state = [0] * n  # 0 unseen, 1 on the stack, 2 finished
    preorder = [0] * n
    back: set[tuple[int, int]] = set()
    has_pred = [False] * n
    for targets in succ:
        for d in targets:
            has_pred[d] = True
    seen = 0
    for root in [v for v in range(n) if not has_pred[v]] + list(range(n)):
        if state[root]:
            continue
        state[root], preorder[root], seen = 1, seen, seen + 1
        stack = [(root, iter(succ[root]))]
        while stack:
            v, it = stack[-1]
            for u in it:
                if state[u] == 0:
                    state[u], preorder[u], seen = 1, seen, seen + 1
                    stack.append((u, iter(succ[u])))
                    break
                if state[u] == 1:
                    back.add((v, u))
            else:
                state[v] = 2
                stack.pop()
    return back, preorder


def _rows(n: int, dag: list[tuple[int, int]]) -> list[int]:
    """Longest-path rows, then sources pulled down to just above their first consumer."""
    succ: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for a, b in dag:
        succ[a].append(b)
        indegree[b] += 1
    row = [0] * n
    queue = [v for v in range(n) if indegree[v] == 0]
    sources = list(queue)
    for v in queue:
        for u in succ[v]:
            row[u] = max(row[u], row[v] + 1)
            indegree[u] -= 1
            if indegree[u] == 0:
                queue.append(u)
    for v in sources:
        if succ[v]:
            row[v] = min(row[u] for u in succ[v]) - 1
    low = min(row, default=0)
    return [r - low for r in row]


def _isotonic(values: list[float], weights: list[float]) -> list[float]:
    """Closest non-decreasing sequence (weighted least squares), by pooling adjacent violators."""
    blocks: list[tuple[float, float, int]] = []  # mean, weight, count
    for v, w in zip(values, weights):
        count = 1
        while blocks and blocks[-1][0] > v:
            pv, pw, pc = blocks.pop()
            v, w, count = (pv * pw + v * w) / (pw + w), pw + w, count + pc
        blocks.append((v, w, count))
    return [v for v, _, count in blocks for _ in range(count)]
