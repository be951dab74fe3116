"""auto_measure: what the automatic search measures on the small sample: sizes against the fp32 ONNX export
(zipped or as files), accuracy lost, and speed timed beside the export."""

import time

import pytest

from studio.core.compress.prune import magnitude
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.project.auto_measure import measure, paired, reference, speed


@pytest.fixture(scope="module")
def ref_and_data():
    data = load_data("sample:digits")
    return reference(load_model("sample:digits-cnn"), data), data


def test_the_export_measured_against_itself_is_the_reference_and_sparsity_is_smaller_only_zipped(ref_and_data):
    ref, data = ref_and_data
    assert ref.metric == "accuracy" and 0.5 < ref.score <= 1 and ref.zip_bytes < ref.size_bytes
    same = measure(ref.onnx, ref, data, "zip")
    assert same["smaller"] == 1.0 and same["drop"] == 0.0 and same["agreement"] == 1.0 and same["accuracy"] == ref.score
    assert {k: same[k] for k in ("size_bytes", "zip_bytes", "smaller", "drop")} == {
        k: ref.metrics()[k] for k in ("size_bytes", "zip_bytes", "smaller", "drop")}
    sparse = magnitude(ref.onnx, 0.9)  # zeros stored dense: the same file, smaller zipped
    assert measure(sparse, ref, data, "zip")["smaller"] > 1.5
    assert measure(sparse, ref, data, "file")["smaller"] == pytest.approx(1.0, abs=0.01)
    timed = speed(ref.onnx, ref, data, batch=1)
    assert timed["batch"] == 1 and timed["latency_ms"] > 0 and timed["speedup"] > 0 and 1 in ref.calls  # the export's call kept


def test_two_calls_timed_in_turn_keep_their_own_medians():
    slow, fast = paired(lambda: time.sleep(0.002), lambda: None, budget_s=0.1)
    assert slow >= 2.0 > fast
