from studio.core.project.pareto import pareto_front


def test_front_keeps_only_undominated_versions():
    points = {0: (100, 0.95), 1: (10, 0.94), 2: (50, 0.90), 3: (5, 0.80), 4: (10, 0.93)}
    assert pareto_front(points) == [3, 1, 0]


def test_single_and_empty():
    assert pareto_front({7: (1, 0.5)}) == [7]
    assert pareto_front({}) == []
