"""Everything the window shows about a model, computed in one job."""

import numpy as np
import pytest

from studio.core.errors import StudioError
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import Cancelled, CancelToken, run_to_end
from studio.core.project.analysis import analyze, open_model


@pytest.fixture(scope="module")
def lenet():
    return load_model("sample:lenet-5")


def test_the_analysis_of_a_pytorch_model(lenet):
    events = []
    info = run_to_end(analyze(lenet), events.append)
    assert [e.step for e in events] == [1, 2, 3, 4] and events[-1].fraction == 1.0
    assert [layer.name for layer in info.layers] == ["conv1", "conv2", "fc1", "fc2"]
    assert info.total.parameters == sum(s.parameters for s in info.stats.values()) == 431_080
    assert info.stats["fc1"].parameters == 400_500 and info.layer("fc1") is info.layers[2] and info.layer("nope") is None
    assert info.precisions is None  # only an ONNX model has operator precisions
    whole = info.histogram
    assert not whole.sampled and int(np.sum(whole.counts)) + whole.zeros == 431_080  # every weight, in a bin or as a zero
    assert len(info.graph.nodes) == 10 and info.model is lenet


def test_small_layers_get_fewer_bins(lenet):
    info = run_to_end(analyze(lenet))
    bins = {name: len(h.counts) for name, h in info.histograms.items()}
    assert bins == {"conv1": 22, "conv2": 100, "fc1": 100, "fc2": 70}  # √n, from 10 to 100
    assert all(int(np.sum(info.histograms[n].counts)) == info.stats[n].parameters for n in bins)


def test_an_onnx_model_has_the_precision_of_each_operator(lenet):
    info = run_to_end(analyze(to_onnx(lenet)))
    assert [(p.op_type, p.precision) for p in info.precisions] == [("Conv", "float")] * 2 + [("Gemm", "float")] * 2


def test_cancelling_stops_the_analysis(lenet):
    token = CancelToken()
    job = analyze(lenet, token)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(job)


def test_opening_loads_then_analyses():
    events = []
    info = run_to_end(open_model("sample:digits-cnn"), events.append)
    assert events[0].message == "loading sample:digits-cnn" and events[0].step == 0
    assert info.model.source == "sample:digits-cnn" and info.total.parameters == 38_282
    with pytest.raises(StudioError, match="no such sample"):
        run_to_end(open_model("sample:nothing"))


def test_a_converted_onnx_version_shows_as_its_own_graph():
    from studio.core.formats.onnx_to_torch import onnx_to_torch

    source = to_onnx(load_model("sample:digits-cnn"))
    original, converted = run_to_end(analyze(source)), run_to_end(analyze(onnx_to_torch(source)))
    assert [layer.name for layer in converted.layers] == [layer.name for layer in original.layers]  # names as before
    assert len(converted.graph.nodes) == len(original.graph.nodes)
