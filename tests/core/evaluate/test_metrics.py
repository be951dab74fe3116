import numpy as np
import pytest
from real_inputs import embedding, two_outputs

from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.metrics import class_output, evaluate, fidelity


def _data(n=20, classes=4, output=None):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4), np.float32)
    return DataSet("d", {"x": x}, x.argmax(1).astype(np.int64) % classes, output=output)


def test_the_output_the_data_names_holds_the_classes(tmp_path):
    model = two_outputs(tmp_path)
    assert class_output(model, _data(output="scores")) == 1
    assert evaluate(model, _data(output="boxes"))["accuracy"] == 1.0  # boxes = x: argmax is the label
    with pytest.raises(StudioError, match="not one of the model's outputs"):
        class_output(model, _data(output="nope"))


def test_several_outputs_that_fit_the_labels_are_refused_by_name(tmp_path):
    with pytest.raises(StudioError, match="boxes, scores could each hold the classes"):
        class_output(two_outputs(tmp_path), _data())


def test_the_output_whose_width_fits_the_labels_is_chosen(tmp_path):
    model = two_outputs(tmp_path, classes=(2, 4))  # labels 0..3 do not fit the 2-wide output
    assert class_output(model, _data()) == 1
    assert class_output(model, DataSet("d", _data().x, None)) == 0  # no labels: fidelity on the first


def test_fidelity_over_every_output_reports_the_worst():
    a = np.eye(4, dtype=np.float32)
    good, bad = a.copy(), -a
    f = fidelity([a, a], [good, bad])
    assert f["agreement"] == 1.0 and f["cosine"] == pytest.approx(-1.0)


def test_one_value_per_example_is_judged_over_the_examples():
    ref = np.array([[0.001], [0.9], [0.02], [0.8]])
    close = ref + np.array([[0.002], [-0.01], [0.01], [0.0]])  # a probability near 0 moved by 0.002: the same answer
    f = fidelity(close, ref)
    assert f["agreement"] == 1.0 and 0.99 < f["cosine"] < 1.0  # the cosine of the examples' values, not of each one number
    flipped = ref[::-1].copy()
    assert fidelity(flipped, ref)["agreement"] == 0.0 and fidelity(flipped, ref)["cosine"] < 0.1


def test_an_embedding_agrees_by_closeness_not_by_its_largest_dimension(tmp_path):
    x = np.array([[1.0, 0.99, 0.2, 0.1], [0.5, 0.49, 0.9, 0.91]], np.float32)
    reference = [x[:, [1, 0, 3, 2]]]  # in each example the two largest swapped: 40 dB from x
    unlabeled = DataSet("d", {"x": x}, None)
    assert evaluate(embedding(tmp_path), unlabeled, reference=reference)["agreement"] == 1.0
    # the same numbers as class scores: their top class changed
    assert evaluate(embedding(tmp_path, "scores"), unlabeled, reference=reference)["agreement"] == 0.0
