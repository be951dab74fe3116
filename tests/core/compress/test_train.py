"""The one training loop behind fine-tuning and distillation, on a tiny separable problem."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from studio.core.compress.train import copy_module, distillation_loss, train, zero_masks
from studio.core.process.jobs import Cancelled, CancelToken, run_to_end


def problem(n: int = 256):
    """Two classes split by the sign of the first feature."""
    x = np.random.default_rng(0).standard_normal((n, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))


def accuracy(module, x, y) -> dict:
    with torch.no_grad():
        return {"accuracy": float((module(torch.from_numpy(x)).argmax(1).numpy() == y).mean())}


def fit(module, x, y, teacher=None, **kwargs):
    options = dict(epochs=3, lr=1e-2, batch_size=32, cancel=CancelToken(), evaluate=lambda m: accuracy(m, x, y))
    return train(module, [x], y, teacher, **{**options, **kwargs})


def test_distillation_loss_mixes_teacher_and_labels_by_alpha():
    torch.manual_seed(0)
    student, teacher, labels = torch.randn(8, 5), torch.randn(8, 5), torch.randint(0, 5, (8,))
    total, soft, hard = distillation_loss(student, teacher, labels, temperature=2.0, alpha=0.3)
    assert hard == pytest.approx(float(F.cross_entropy(student, labels)))
    expected_soft = F.kl_div(F.log_softmax(student / 2, 1), F.softmax(teacher / 2, 1), reduction="batchmean") * 4
    assert soft == pytest.approx(float(expected_soft), rel=1e-5)
    assert total == pytest.approx(0.3 * float(soft) + 0.7 * float(hard), rel=1e-6)


def test_without_labels_the_loss_is_pure_distillation_and_zero_for_the_teachers_own_outputs():
    logits = torch.randn(8, 5)
    total, soft, hard = distillation_loss(logits, logits, None, temperature=4.0, alpha=0.7)
    assert float(total) == float(soft) == pytest.approx(0.0, abs=1e-6) and float(hard) == 0.0


def test_zero_masks_cover_only_matrices_with_zeros():
    module = net()
    with torch.no_grad():
        module[0].weight[0, :2] = 0
        module[0].bias[0] = 0  # a bias is never masked
    masks = zero_masks(module)
    assert list(masks) == ["0.weight"]
    assert int((~masks["0.weight"]).sum()) == 2


def test_a_copied_scripted_module_has_leaf_parameters_an_optimizer_takes():
    scripted = torch.jit.script(net())
    copied = copy_module(scripted)
    assert all(p.is_leaf and p.requires_grad for p in copied.parameters())
    torch.optim.SGD(copied.parameters(), lr=0.1)  # raises for non-leaf tensors
    first = next(copied.parameters())
    with torch.no_grad():
        first.add_(1.0)
    assert not torch.equal(first, next(scripted.parameters()))  # a copy, not the same weights


def test_training_learns_and_reports_every_epoch():
    x, y = problem()
    events = []
    before = accuracy(net(), x, y)["accuracy"]
    trained = run_to_end(fit(net(), x, y), events.append)
    epochs = [e.metrics for e in events if "epoch" in e.metrics]
    assert [m["epoch"] for m in epochs] == [1, 2, 3]
    assert epochs[-1]["loss"] < epochs[0]["loss"] and epochs[-1]["accuracy"] > max(0.9, before)
    assert events[-1].fraction == 1.0 and not trained.training  # left in eval mode


def test_pruned_weights_stay_zero_unless_told_otherwise():
    x, y = problem()
    module = net()
    with torch.no_grad():
        module[0].weight[:, 1:] = 0  # only the first feature left
    kept = run_to_end(fit(copy_module(module), x, y))
    assert torch.count_nonzero(kept[0].weight[:, 1:]) == 0
    free = run_to_end(fit(copy_module(module), x, y, keep_zeros=False))
    assert torch.count_nonzero(free[0].weight[:, 1:]) > 0


def test_the_same_seed_gives_the_same_weights():
    x, y = problem()
    a, b = (run_to_end(fit(net(), x, y, epochs=1, seed=7)) for _ in range(2))
    c = run_to_end(fit(net(), x, y, epochs=1, seed=8))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_a_student_learns_from_teacher_logits_without_labels():
    x, y = problem()
    teacher_logits = np.stack([-x[:, 0], x[:, 0]], 1).astype(np.float32) * 5  # knows the rule
    events = []
    student = run_to_end(train(net(), [x], None, teacher_logits, epochs=3, lr=1e-2, batch_size=32, temperature=2.0,
                               cancel=CancelToken(), evaluate=lambda m: accuracy(m, x, y)), events.append)
    assert accuracy(student, x, y)["accuracy"] > 0.9
    last = [e.metrics for e in events if "epoch" in e.metrics][-1]
    assert last["loss_labels"] == 0.0 and last["loss_distill"] == pytest.approx(last["loss"])


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.classes = nn.Linear(4, 8), nn.Linear(8, 2)

    def forward(self, x):
        h = self.body(x)
        return h, self.classes(torch.relu(h))


def test_the_output_that_holds_the_classes_is_the_one_trained():
    x, y = problem()
    trained = run_to_end(fit(TwoHeads(), x, y, output=1, evaluate=lambda m: {}))
    with torch.no_grad():
        predicted = trained(torch.from_numpy(x))[1].argmax(1).numpy()
    assert (predicted == y).mean() > 0.9


def test_an_unknown_optimizer_and_a_cancel_stop_training():
    x, y = problem()
    with pytest.raises(ValueError, match="optimizer must be one of"):
        run_to_end(fit(net(), x, y, optimizer="lion"))
    token = CancelToken()
    module = net()
    before = [p.detach().clone() for p in module.parameters()]
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(fit(module, x, y, cancel=token))
    assert all(torch.equal(p, q) for p, q in zip(before, module.parameters()))  # stopped before its first step



def test_a_few_examples_are_gone_through_several_times_per_epoch_when_asked():
    """Eight examples give one step an epoch: matching a teacher takes many more (finetune asks for them
    when it learns the unpruned model's outputs)."""
    x, y = problem(8)
    teacher_logits = np.stack([-x[:, 0], x[:, 0]], 1).astype(np.float32) * 5
    events = []
    student = run_to_end(train(net(), [x], None, teacher_logits, epochs=2, lr=1e-2, batch_size=8, temperature=2.0, min_examples=512,
                               cancel=CancelToken(), evaluate=lambda m: accuracy(m, x, y)), events.append)
    assert events[-1].total == 2 * 64  # 512 examples an epoch, in batches of 8
    assert accuracy(student, x, y)["accuracy"] == 1.0
    once = run_to_end(train(net(), [x], None, teacher_logits, epochs=2, lr=1e-2, batch_size=8, temperature=2.0,
                            cancel=CancelToken(), evaluate=lambda m: {}))
    assert accuracy(once, x, y)["accuracy"] < 1.0  # two steps: not yet


def test_an_epoch_order_holds_whole_shuffles():
    from studio.core.compress.train import epoch_order

    order = epoch_order(5, 12, torch.Generator().manual_seed(0))
    assert len(order) == 12 and sorted(order[:5].tolist()) == sorted(order[5:10].tolist()) == list(range(5))
    assert torch.equal(epoch_order(7, 7, torch.Generator().manual_seed(3)), torch.randperm(7, generator=torch.Generator().manual_seed(3)))


def test_a_model_that_ends_in_a_softmax_learns_as_its_scores_would():
    """Converted classifiers often output probabilities: trained through their logarithm, the model learns
    exactly as the same model without its softmax does, from labels and from a teacher's probabilities.
    Cross-entropy on the probabilities as if they were scores has almost no gradient."""
    x, y = problem()
    teacher = np.stack([-x[:, 0], x[:, 0]], 1).astype(np.float32) * 5
    for labels, logits, probabilities in [(y, None, None), (None, teacher, torch.softmax(torch.from_numpy(teacher), 1).numpy())]:
        scores = run_to_end(fit(net(), x, labels, logits, temperature=2.0))
        softmax = run_to_end(fit(nn.Sequential(net(), nn.Softmax(1)), x, labels, probabilities, temperature=2.0))
        assert all(torch.allclose(p, q, atol=1e-5) for p, q in zip(scores.parameters(), softmax.parameters()))


def test_probabilities_are_told_from_scores():
    from studio.core.compress.train import are_probabilities

    assert are_probabilities(torch.softmax(torch.randn(4, 3), 1))
    assert not are_probabilities(torch.sigmoid(torch.randn(4, 3)))  # no distribution: normalising it would lose its scale
    assert not are_probabilities(torch.randn(4, 3)) and not are_probabilities(torch.rand(4, 1)) and not are_probabilities(torch.rand(4))


class Stream(nn.Module):
    """Keeps a state between calls, as Silero VAD's script does, with reset_states() to start afresh."""

    def __init__(self):
        super().__init__()
        self.fc, self.state = nn.Linear(4, 2), None

    def reset_states(self):
        self.state = None

    def forward(self, x):
        out = self.fc(x) + (0 if self.state is None else self.state)
        self.state = out.mean(0, keepdim=True)
        return out


def test_a_module_that_keeps_a_state_starts_a_fresh_stream_on_each_batch():
    """Without the reset, the second batch's backward would go through the first batch's graph again."""
    x, y = problem(128)
    trained = run_to_end(fit(Stream(), x, y, batch_size=32, evaluate=lambda m: {}))
    assert isinstance(trained, Stream)
