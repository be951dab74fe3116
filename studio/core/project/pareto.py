"""The Pareto frontier of versions: none other is both smaller and at least as accurate."""

from __future__ import annotations


def pareto_front(points: dict[int, tuple[float, float]]) -> list[int]:
    """Ids of the points (size, score) that no other point dominates (smaller or equal size and higher or
    equal score, better in one), ordered by size."""
    front = []
    best = float("-inf")
    for vid, (size, score) in sorted(points.items(), key=lambda kv: (kv[1][0], -kv[1][1])):
        if score > best:
            front.append(vid)
            best = score
    return front
