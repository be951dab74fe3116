"""Layer-graph view timings: layout alone, layout + first paint, and panning at 10,000 nodes.

Run: python benchmarks/bench_graph.py (offscreen) → benchmarks/results/graph.md
"""

from __future__ import annotations

import os
import random
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from common import median_time, write  # noqa: E402

from studio.core.inspect.graph import Graph  # noqa: E402
from studio.core.inspect.layout import layered_layout  # noqa: E402
from studio.core.inspect.stats import WeightStats  # noqa: E402

SIZES = (700, 2_000, 10_000)
RUNS = 5
PAN_STEPS = 20


def resnet_like(n: int, seed: int = 0) -> Graph:
    """A chain of residual blocks (conv-bn-relu-conv-bn + skip → add → relu), every fifth block with a
    two-way branch that joins again, until n nodes."""
    rng = random.Random(seed)
    g = Graph()
    last = g.add("input", "Input", shape=(1, 3, 224, 224)).id
    b = 0
    while len(g.nodes) < n - 1:
        p = f"layer{b // 4 + 1}.{b % 4}"
        ops = ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]
        if b % 5 == 4:
            ops = ["Conv2d", "BatchNorm2d", "ReLU"]
        node = last
        for i, op in enumerate(ops):
            weights = op in ("Conv2d", "BatchNorm2d")
            nxt = g.add(f"{p}.{op.lower()}{i}", op, layer=f"{p}.{op.lower()}{i}" if weights else None,
                        shape=(1, 64 * (1 + b // 16), 56, 56)).id
            g.connect(node, nxt)
            node = nxt
        if b % 5 == 4:
            side = g.add(f"{p}.branch", "Conv2d", layer=f"{p}.branch", shape=(1, 64, 56, 56)).id
            g.connect(last, side)
            cat = g.add(f"{p}.cat", "Concat").id
            g.connect(node, cat)
            g.connect(side, cat)
            node = cat
        else:
            skip = last
            if rng.random() < 0.3:
                skip = g.add(f"{p}.downsample", "Conv2d", layer=f"{p}.downsample").id
                g.connect(last, skip)
            add = g.add(f"{p}.add", "Add").id
            g.connect(node, add)
            g.connect(skip, add)
            node = g.add(f"{p}.relu", "ReLU").id
            g.connect(add, node)
        last = node
        b += 1
    out = g.add("output", "Output")
    g.connect(last, out.id)
    return g


def stats_of(graph: Graph) -> dict[str, WeightStats]:
    return {n.layer: WeightStats(parameters=1_000 * (1 + n.id % 300), zeros=n.id % 500) for n in graph.nodes if n.layer}


def pan_fps(view) -> float:
    """Frames per second of moving the view by 60 px (down, then back up) and repainting, median over
    PAN_STEPS moves."""
    times = []
    for step in range(PAN_STEPS):
        t = time.perf_counter()
        view.canvas.pan(0, 60 if step % 2 else -60)
        view.canvas.repaint()
        times.append(time.perf_counter() - t)
    return 1 / statistics.median(times)


def main() -> None:
    from PySide6.QtWidgets import QApplication

    from studio.gui.inspect.graph_view import GraphView

    app = QApplication.instance() or QApplication([])
    view = GraphView()
    view.resize(1200, 800)
    view.show()
    app.processEvents()
    rows = []
    for n in SIZES:
        graph = resnet_like(n)
        stats = stats_of(graph)
        layout_s = median_time(lambda: layered_layout(graph), RUNS)
        shown_s = median_time(lambda: (view.show_graph(graph, stats), view.grab()), RUNS)
        fit_s = median_time(lambda: (view.canvas.fit(), view.canvas.repaint()), RUNS)
        rows.append([f"{len(graph.nodes):,}", f"{len(graph.edges):,}", f"{layout_s[0] * 1000:.0f}",
                     f"{shown_s[0] * 1000:.0f} ({shown_s[1] * 1000:.0f}–{shown_s[2] * 1000:.0f})", f"{fit_s[0] * 1000:.0f}"])
    view.show_graph(graph, stats)
    pans = ["| panning 10,003 nodes | zoom | frames per second |", "|---|---|---|"]
    for label, place in [("boxes with labels (opening view)", lambda: None), ("boxes only", lambda: view.canvas.zoom(0.25)),
                         ("whole graph in view", view.canvas.fit)]:
        place()
        view.canvas.repaint()
        pans.append(f"| {label} | {view.canvas._scale:.2g} | {pan_fps(view):.0f} |")
    view.close()
    write("graph", "Layer graph: layout, first paint and panning (synthetic ResNet-like graphs)",
          ["nodes", "edges", "layout ms", "layout + first paint ms (range)", "repaint whole graph ms"], rows,
          f"Median of {RUNS} runs; first paint is GraphView.show_graph + grab() of a 1200×800 view, offscreen. "
          "Targets: 700 nodes laid out and painted in under 1 s; 10,000 in under 5 s.\n\n"
          + "\n".join(pans) + f"\n\nPanning: move the view 60 px and repaint, median of {PAN_STEPS} steps.")


if __name__ == "__main__":
    main()
