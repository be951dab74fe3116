"""Refitting layers after channel pruning: the kept channels are tracked through Torch-Pruning, an unpruned
copy is refitted to itself (the input windows are cut as the convolution cuts them), a pruned CNN comes
back towards the original, and the prune step keeps a refit only where it helps."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch_pruning as tp

from studio.core.compress import channel_refit, channels
from studio.core.compress.channel_refit import record_kept, refit_layers
from studio.core.formats.model import Format, Model, TensorSpec


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.b = torch.nn.Conv2d(16, 32, 3, stride=2, padding=2, dilation=2)
        self.c = torch.nn.Conv2d(32, 16, 1)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.a(x))
        x = torch.relu(self.b(x))
        x = torch.relu(self.c(x))
        return self.fc(x.mean((2, 3)))


def images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.avg_pool2d(torch.randn(n, 3, 20, 20, generator=g), 3, 1, 1)  # neighbouring pixels alike, as in images
    return smooth + 0.2 * torch.randn(n, 3, 20, 20, generator=g)


def pruned_net(ratio: float = 0.5):
    net = Net().eval()
    copy_ = copy.deepcopy(net)
    pruner = tp.pruner.MetaPruner(copy_, images(2), importance=tp.importance.GroupMagnitudeImportance(p=1), pruning_ratio=ratio,
                                  ignored_layers=[copy_.fc])
    return net, copy_, record_kept(pruner)


def error(a, b, x) -> float:
    with torch.no_grad():
        want = b(x)
        return float((a(x) - want).pow(2).sum() / want.pow(2).sum())


def test_the_kept_channels_are_the_original_indices_of_what_remains():
    net, small, kept = pruned_net()
    assert {small.a, small.b, small.c} <= set(kept)
    for name in ("a", "b", "c"):
        layer, original = getattr(small, name), getattr(net, name)
        assert len(kept[layer]) == layer.out_channels < original.out_channels
        torch.testing.assert_close(layer.bias, original.bias[kept[layer]], rtol=0, atol=0)


def test_an_unpruned_copy_is_refitted_to_itself():
    net = Net().eval()
    same = copy.deepcopy(net)
    assert refit_layers(same, net, {}, [images(8)], ridge=1e-6) == 4
    for name in ("a", "b", "c", "fc"):  # the windows are cut as the convolution cuts them (stride, padding, dilation)
        torch.testing.assert_close(getattr(same, name).weight, getattr(net, name).weight, atol=2e-3, rtol=0)


def test_a_pruned_cnn_comes_back_towards_the_original():
    net, small, kept = pruned_net()
    fit, other = images(16), images(16, seed=1)
    before = error(small, net, fit), error(small, net, other)
    assert refit_layers(small, net, kept, [fit]) == 4
    after = error(small, net, fit), error(small, net, other)
    assert after[0] < 0.5 * before[0] and after[1] < 0.7 * before[1]
    assert small.b.out_channels == 16  # still pruned


def _model(module) -> Model:
    return Model(format=Format.PICKLED_MODULE, source="net.pt", module=module,
                 inputs=[TensorSpec("x", ("N", 3, 20, 20), "float32")], outputs=[TensorSpec("y", ("N", 5), "float32")])


def test_the_prune_step_refits_on_data_and_undoes_a_refit_that_does_not_help(monkeypatch):
    model = _model(Net().eval())
    example = {"x": images(12).numpy()}
    refitted = channels.channels(model, 0.5, round_to=None, example=example)
    assert "4 layers refitted to the original's outputs on 12 examples" in refitted.notes[-1]
    plain = channels.channels(model, 0.5, round_to=None)  # no data: nothing to refit on
    assert not any("refit" in n for n in plain.notes)

    def scramble(module, *_args, **_kwargs):
        with torch.no_grad():
            module.fc.weight.mul_(-1)
        return 1

    monkeypatch.setattr(channels, "refit_layers", scramble)
    undone = channels.channels(model, 0.5, round_to=None, example=example)
    assert "not refitted: refitting brought the outputs on 12 examples further from the original's" in undone.notes[-1]
    with torch.no_grad():
        x = torch.from_numpy(example["x"])
        np.testing.assert_allclose(undone.module(x).numpy(), plain.module(x).numpy(), atol=1e-6)  # the pruned weights back


def test_a_refit_that_fails_leaves_the_pruned_model_and_says_why(monkeypatch):
    model = _model(Net().eval())
    example = {"x": images(12).numpy()}
    plain = channels.channels(model, 0.5, round_to=None)

    def fails(module, *_args, **_kwargs):
        with torch.no_grad():
            module.fc.weight.mul_(-1)  # half done when it fails
        raise RuntimeError("a layer laid out otherwise")

    monkeypatch.setattr(channels, "refit_layers", fails)
    kept = channels.channels(model, 0.5, round_to=None, example=example)
    assert kept.notes[-1] == "layers not refitted: the refit failed (a layer laid out otherwise)"
    with torch.no_grad():
        x = torch.from_numpy(example["x"])
        np.testing.assert_allclose(kept.module(x).numpy(), plain.module(x).numpy(), atol=1e-6)


def test_depthwise_and_padded_by_name_layers_keep_their_weights():
    assert not channel_refit._fittable(torch.nn.Conv2d(8, 8, 3, groups=8))
    assert not channel_refit._fittable(torch.nn.Conv2d(8, 8, 3, padding="same"))
    assert channel_refit._fittable(torch.nn.Conv2d(8, 8, 3, padding="valid")) and channel_refit._fittable(torch.nn.Linear(3, 4))


@pytest.mark.parametrize("shape", [(60, 7), (2, 30, 7), (2, 3, 10, 7)])
def test_linear_layers_fit_on_rows_of_any_leading_shape(shape):
    lin = torch.nn.Linear(7, 4)
    same = copy.deepcopy(lin)
    with torch.no_grad():
        same.weight.add_(0.5)
    x = torch.randn(*shape)
    refit_layers(same, lin, {}, [x], ridge=1e-8)
    torch.testing.assert_close(same.weight, lin.weight, atol=1e-4, rtol=0)
