import numpy as np
from real_inputs import fixed_batch_of_one, tokens_and_scalar

from studio.core.evaluate.data import DataSet
from studio.core.evaluate.latency import latency


def test_latency_is_timed_on_examples_of_the_data_with_their_shapes_and_dtypes(tmp_path):
    model = tokens_and_scalar(tmp_path)
    data = DataSet("d", {"ids": np.arange(70, dtype=np.int64).reshape(10, 7), "scale": np.array(2, np.int64)}, None)
    lat = latency(model, data, 8, threads=1, runs=5)
    assert lat["input_shapes"] == {"ids": [8, 7], "scale": []} and lat["runs"] == 5 and lat["latency_ms"] > 0
    assert "repeated" in lat["inputs"]  # the test split holds 2 examples, repeated to fill the batch


def test_without_data_only_fixed_shapes_are_timed(tmp_path):
    skipped = latency(tokens_and_scalar(tmp_path), None, 4)
    assert "latency_ms" not in skipped and "choose data" in skipped["skipped"]
    fixed = latency(fixed_batch_of_one(tmp_path), None, 256, runs=3)
    assert fixed["batch"] == 1 and fixed["input_shapes"] == {"x": [1, 3]} and "random" in fixed["inputs"]


def test_latency_stops_at_its_time_budget(tmp_path):
    model = fixed_batch_of_one(tmp_path)
    lat = latency(model, DataSet("d", {"x": np.ones((5, 3), np.float32)}, None), 1, runs=10**7, budget_s=0.2)
    assert 3 <= lat["runs"] < 10**7
