import zipfile

import pytest
import torch

from studio.core.errors import StudioError
from studio.core.formats import model as model_module
from studio.core.formats.load import load_model


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.out = torch.nn.Linear(4, 10, bias=False)
        self.out.weight = self.emb.weight
        self.norm = torch.nn.BatchNorm1d(4)
        self.frozen = torch.nn.Parameter(torch.ones(4), requires_grad=False)

    def forward(self, x):
        return self.out(self.norm(self.emb(x).mean(1)) * self.frozen)


@pytest.fixture
def always_apart(monkeypatch):
    monkeypatch.setattr(model_module, "CHILD_READ_BYTES", 0)


def test_an_archive_loaded_apart_is_the_same_module(tmp_path, always_apart):
    original = Tied().eval()
    original.norm.running_mean += 0.5
    path = tmp_path / "tied.pt"
    torch.jit.save(torch.jit.script(original), str(path))
    direct, apart = torch.jit.load(str(path)), load_model(str(path), responsive=True).module
    assert set(apart.state_dict()) == set(direct.state_dict())
    assert all(torch.equal(apart.state_dict()[k], v) for k, v in direct.state_dict().items())
    assert apart.out.weight.data_ptr() == apart.emb.weight.data_ptr(), "tied weights stay tied"
    assert not apart.frozen.requires_grad and apart.emb.weight.requires_grad
    x = torch.randint(0, 10, (3, 5))
    assert torch.equal(apart(x), direct(x))


def test_an_archive_the_child_cannot_read_gets_the_usual_one_line_error(tmp_path, always_apart):
    good, bad = tmp_path / "good.pt", tmp_path / "bad.pt"
    torch.jit.save(torch.jit.script(Tied()), str(good))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, b"not a pickle" if item.filename.endswith("data.pkl") else src.read(item))
    with pytest.raises(StudioError, match="damaged TorchScript archive"):
        load_model(str(bad), responsive=True)
