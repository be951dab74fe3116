"""A pruned module rebuilt from its architecture and a state_dict whose layers are narrower."""

import torch
from torch import nn

from studio.core.compress.channels import channels
from studio.core.formats.load import load_model
from studio.core.formats.rebuild import fit_to_state_dict
from studio.core.formats.samples import LeNet5


def test_a_channel_pruned_sample_loads_into_a_fresh_architecture():
    pruned = channels(load_model("sample:lenet-5"), 0.5)
    rebuilt = fit_to_state_dict(LeNet5().eval(), pruned.module.state_dict())
    assert (rebuilt.conv1.out_channels, rebuilt.conv2.in_channels, rebuilt.fc1.in_features) == (8, 8, 24 * 16)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), pruned.module(x))


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8, padding_idx=0)
        self.norm = nn.LayerNorm(8)
        self.conv = nn.Conv1d(8, 8, 3, padding=1, bias=False)
        self.depthwise = nn.Conv1d(8, 8, 3, padding=1, groups=8)
        self.bn = nn.BatchNorm1d(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, ids):
        h = self.norm(self.embed(ids)).transpose(1, 2)
        return self.fc(self.bn(self.depthwise(self.conv(h))).mean(2))


def narrower(width: int) -> dict[str, torch.Tensor]:
    """What Torch-Pruning leaves of Mixed with `width` channels throughout."""
    small = Mixed()
    small.embed, small.norm = nn.Embedding(10, width, padding_idx=0), nn.LayerNorm(width)
    small.conv = nn.Conv1d(width, width, 3, padding=1, bias=False)
    small.depthwise = nn.Conv1d(width, width, 3, padding=1, groups=width)
    small.bn, small.fc = nn.BatchNorm1d(width), nn.Linear(width, 2)
    return small.state_dict()


def test_every_kind_of_resizable_layer_takes_its_new_size():
    state = narrower(4)
    rebuilt = fit_to_state_dict(Mixed(), state)
    assert rebuilt.embed.weight.shape == (10, 4) and rebuilt.embed.padding_idx == 0
    assert rebuilt.norm.normalized_shape == (4,)
    assert rebuilt.conv.weight.shape == (4, 4, 3) and rebuilt.conv.bias is None
    assert rebuilt.depthwise.groups == 4 and rebuilt.depthwise.weight.shape == (4, 1, 3)  # still depthwise
    assert rebuilt.bn.num_features == 4 and torch.equal(rebuilt.bn.running_mean, state["bn.running_mean"])
    assert rebuilt.fc.in_features == 4
    assert rebuilt(torch.tensor([[1, 2, 3]])).shape == (1, 2)


def test_layers_already_of_the_right_size_are_kept_as_they_are():
    module = Mixed()
    layers = dict(module.named_children())
    state = {k: torch.zeros_like(v) for k, v in Mixed().state_dict().items()}
    rebuilt = fit_to_state_dict(module, state)
    assert rebuilt is module and dict(rebuilt.named_children()) == layers
    assert not rebuilt.fc.weight.any()  # the state_dict's values were loaded


def test_a_module_that_is_one_layer_is_resized_in_its_parents_place():
    wrapper = nn.Sequential(nn.Linear(4, 6))
    rebuilt = fit_to_state_dict(wrapper, {"0.weight": torch.ones(3, 4), "0.bias": torch.zeros(3)})
    assert rebuilt[0].out_features == 3 and rebuilt(torch.ones(1, 4)).tolist() == [[4.0, 4.0, 4.0]]
