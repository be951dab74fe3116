"""The bundled sample models and data sets: architectures, trained weights, and the stable split."""

import numpy as np
import pytest
import torch

from studio.core.formats.samples import (
    SAMPLE_DATA,
    SAMPLE_MODELS,
    LeNet300100,
    build_sample,
    load_sample_data,
    sample_input,
    split_mask,
)


@pytest.mark.parametrize("name", list(SAMPLE_MODELS))
def test_every_sample_builds_in_eval_mode_and_maps_its_input_to_ten_classes(name):
    module = build_sample(name)
    assert not module.training
    with torch.no_grad():
        out = module(sample_input(name, 3))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    assert sample_input(name, 3).shape == (3, *SAMPLE_MODELS[name].input_shape) and not sample_input(name).any()


@pytest.mark.parametrize("name", list(SAMPLE_DATA))
def test_sample_data_is_scaled_to_zero_one_with_int64_labels(name):
    x, y = load_sample_data(name)
    assert x.dtype == np.float32 and x.shape[1:] == SAMPLE_DATA[name].image_shape
    assert 0.0 <= x.min() and x.max() == 1.0
    assert y.dtype == np.int64 and len(y) == len(x) and set(np.unique(y)) == set(range(10))


@pytest.mark.parametrize("name", list(SAMPLE_MODELS))
def test_the_trained_weights_classify_the_test_split_of_their_data(name):
    spec = SAMPLE_MODELS[name]
    x, y = load_sample_data(spec.data)
    test = split_mask(len(x))
    with torch.no_grad():
        predicted = build_sample(name)(torch.from_numpy(x[test].reshape(-1, *spec.input_shape))).argmax(1).numpy()
    assert (predicted == y[test]).mean() > 0.9


def test_the_split_is_every_fifth_example():
    assert split_mask(11).tolist() == [False, False, False, False, True] * 2 + [False]


def test_the_mlp_scales_its_hidden_layers_by_width():
    half = LeNet300100(width=0.5)
    assert (half.fc1.out_features, half.fc2.out_features, half.fc3.out_features) == (150, 50, 10)
    assert LeNet300100(width=0.001).fc1.out_features == 1  # never an empty layer
