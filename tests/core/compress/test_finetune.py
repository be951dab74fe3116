"""Fine-tuning after pruning, for every format that allows it."""

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.compress.finetune import finetune
from studio.core.compress.prune import magnitude
from studio.core.evaluate.data import DataSet, load_data
from studio.core.evaluate.runtime import predict
from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.inspect.prunable import weight_sparsity
from studio.core.process.jobs import run_to_end

CORPUS = Path(__file__).resolve().parents[3] / "corpus"


def test_traced_torchscript_prunes_and_fine_tunes_keeping_zeros(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    torch.jit.save(torch.jit.trace(net, torch.zeros(1, 1, 8, 8)), tmp_path / "traced.pt")
    model = load_model(str(tmp_path / "traced.pt"), input_shape="1,1,8,8")
    assert model.capabilities()["finetune"].allowed
    pruned = magnitude(model, 0.5)
    assert all(p.is_leaf for p in pruned.module.parameters())
    tuned = run_to_end(finetune(pruned, load_data("sample:digits"), epochs=1))
    before, after = pruned.module.state_dict(), tuned.module.state_dict()
    assert not torch.equal(before["1.weight"], after["1.weight"])  # it trained
    for name in ("1.weight", "3.weight"):
        assert torch.equal(after[name][before[name] == 0], torch.zeros(int((before[name] == 0).sum())))
    assert weight_sparsity(tuned) == pytest.approx(0.5, abs=1e-3)


def test_a_frozen_torchscript_module_is_refused_with_its_reason(tmp_path):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    frozen = torch.jit.freeze(torch.jit.script(net))
    torch.jit.save(frozen, tmp_path / "frozen.pt")
    model = load_model(str(tmp_path / "frozen.pt"), input_shape="1,1,8,8")
    with pytest.raises(Exception, match="no trainable parameters"):
        run_to_end(finetune(model, load_data("sample:digits"), epochs=1))


class Compare(torch.nn.Module):
    """Which of two vectors, scaled by a number given with every batch, has the larger sum."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 2)

    def forward(self, a, b, scale: int):
        return self.fc(torch.cat([a, b], 1) * scale)


def test_a_model_with_several_inputs_and_a_number_fine_tunes():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 600, 4)).astype(np.float32)
    data = DataSet("pairs", {"a": a, "b": b, "scale": np.array(2)}, (a.sum(1) > b.sum(1)).astype(np.int64))
    specs = [TensorSpec("a", ("batch", 4)), TensorSpec("b", ("batch", 4)), TensorSpec("scale", (), "int64")]
    model = Model("compare", Format.PICKLED_MODULE, specs, [TensorSpec("y", ("batch", 2))], module=Compare())
    test = data.test()
    before = float((predict(model, test.x).argmax(1) == test.y).mean())
    progress = []
    job = finetune(model, data, epochs=4, lr=0.05)
    while True:
        try:
            progress.append(next(job))
        except StopIteration:
            break
    accuracies = [p.metrics["accuracy"] for p in progress if p.metrics and "accuracy" in p.metrics]
    assert before < 0.8 and accuracies[-1] > 0.9, (before, accuracies)  # it learnt, from both inputs


@pytest.mark.skipif(not (CORPUS / "pesto-mir1k-g7").is_dir(), reason="the real-model corpus is not here")
def test_traced_corpus_model_loads_and_prunes():
    model = load_model(str(CORPUS / "pesto-mir1k-g7" / "pesto_mir1k_g7.pt"), input_shape="1,8000")
    pruned = magnitude(model, 0.8)  # its CQT kernels are parameters, two thirds zeros already
    assert weight_sparsity(model) < 0.7 and weight_sparsity(pruned) == pytest.approx(0.8, abs=1e-3)
    out = pruned.module(torch.zeros(1, 8000))
    assert np.isfinite(out[0].detach().numpy()).all()


def test_without_labels_a_small_data_set_is_gone_through_several_times_per_epoch():
    from studio.core.compress.finetune import UNLABELED_EPOCH_EXAMPLES

    teacher = load_model("sample:digits-cnn")
    data = load_data("sample:digits").subset(slice(0, 40))
    data.y = None
    events = []
    run_to_end(finetune(magnitude(teacher, 0.5), data, epochs=2, batch_size=32, teacher=teacher), events.append)
    assert events[-1].total == 2 * -(-UNLABELED_EPOCH_EXAMPLES // 32)  # not one step an epoch for 32 training examples


def test_without_labels_the_weights_closest_to_the_original_are_kept():
    """A model that already computes what the original does is only carried away by more steps (here a
    large learning rate): its weights before training are kept, and the notes say so."""
    teacher = load_model("sample:digits-cnn")
    data = load_data("sample:digits").subset(slice(0, 40))
    data.y = None
    tuned = run_to_end(finetune(teacher, data, epochs=2, lr=0.05, teacher=teacher))
    kept = dict(tuned.module.state_dict())
    assert all(torch.equal(kept[k], v) for k, v in teacher.module.state_dict().items())
    assert "did not bring the pruned model closer" in tuned.notes[-1]
    moved = run_to_end(finetune(magnitude(teacher, 0.7), data, epochs=2, lr=1e-3, teacher=teacher))
    assert not any("fine-tuning" in note for note in moved.notes)  # the last epoch was the closest
