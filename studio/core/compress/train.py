"""The one training loop behind fine-tuning and distillation: mini-batches, masks that keep pruned
weights at zero, cooperative cancel, progress with metrics after every epoch, and data-parallel
training when launched by torchrun (studio/core/process/distributed.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.evaluate.runtime import home_device, takes_numbers
from studio.core.process import distributed
from studio.core.process.jobs import CancelToken, Job, Progress
from studio.core.process.locks import MODULE_LOCK

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9), "adamw": torch.optim.AdamW}


def embedding_loss(student, teacher):
    """1 − cosine along the last axis (the direction, which is what embeddings are compared by), plus the
    squared error relative to the teacher's power (the length, for embeddings that are not normalised)."""
    cos = F.cosine_similarity(student, teacher, dim=-1, eps=1e-8).mean()
    return (1 - cos) + F.mse_loss(student, teacher) / teacher.pow(2).mean().clamp(min=1e-12)


def are_probabilities(out: torch.Tensor) -> bool:
    """Whether class outputs ([N, classes]) are probabilities, not scores: a softmax ends many converted
    classifiers, and a softmax over probabilities as if they were scores is nearly uniform, so nothing is
    learnt. (A sigmoid's outputs are not taken for probabilities: normalising them would lose their scale.)"""
    if out.dim() != 2 or out.shape[1] < 2 or not bool(((out >= 0) & (out <= 1)).all()):
        return False
    return bool(torch.allclose(out.sum(1), torch.ones(len(out), dtype=out.dtype, device=out.device), atol=1e-3))


def as_scores(out: torch.Tensor) -> torch.Tensor:
    """Scores whose softmax is the probabilities `out`."""
    return out.clamp_min(1e-12).log()


def distillation_loss(student, teacher, labels, temperature: float, alpha: float, embedding: bool = False):
    """Hinton et al. 2015: KL of temperature-softened outputs × T², mixed with cross-entropy by alpha.
    Returns (total, distillation part, label part); without labels the loss is pure distillation.
    An embedding (`embedding`: a sentence or token vector, say) is matched by embedding_loss. Other outputs
    that are not class scores ([N, classes]: a box map, a spectrogram) are matched by their squared error
    relative to the teacher's power: a softmax over their second axis means nothing (over one channel it
    is constant, and nothing would be learnt)."""
    t = temperature
    if embedding:
        soft = embedding_loss(student, teacher)
    elif teacher.dim() != 2 or teacher.shape[1] < 2:
        soft = F.mse_loss(student, teacher) / teacher.pow(2).mean().clamp(min=1e-12)
    else:
        soft = F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), reduction="batchmean", log_target=True) * t * t
    if labels is None or embedding:  # labels do not index an embedding's axes
        return soft, soft, torch.zeros(())
    hard = F.cross_entropy(student, labels)
    return alpha * soft + (1 - alpha) * hard, soft, hard


def copy_module(module: torch.nn.Module) -> torch.nn.Module:
    """A deep copy whose parameters are leaves an optimizer takes: copying a TorchScript module clones
    its parameters through autograd, which leaves them non-leaf."""
    copied = copy.deepcopy(module)
    leaf_parameters(copied)
    return copied


def leaf_parameters(module: torch.nn.Module) -> None:
    for p in module.parameters():
        if not p.is_leaf:
            p.detach_().requires_grad_(True)  # in place: a ScriptModule holds this very tensor


def zero_masks(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Masks of the pruned (exactly zero) entries of every weight matrix that has some."""
    return {n: p.detach() != 0 for n, p in module.named_parameters() if p.dim() >= 2 and not bool((p != 0).all())}


def epoch_order(count: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """`n` example indices: whole shuffles of the `count` examples, the last one cut short."""
    return torch.cat([torch.randperm(count, generator=gen) for _ in range(-(-n // count))])[:n]


def train(
    module: torch.nn.Module,
    xs: list[np.ndarray],
    labels: np.ndarray | None,
    teacher_logits: np.ndarray | None,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    optimizer: str = "adam",
    temperature: float = 1.0,
    alpha: float = 0.0,
    device: str = "cpu",
    cancel: CancelToken,
    evaluate: Callable[[torch.nn.Module], dict],
    keep_zeros: bool = True,
    seed: int = 0,
    output: int = 0,
    frozen_norms: bool = False,
    embedding: bool = False,
    match=None,
    min_examples: int = 0,
) -> Job[torch.nn.Module]:
    """Trains `module` in place (pass a copy) on the inputs `xs` (one array per input, in the module's
    order; a 0-d one is the same number for every example, passed as a Python number). With teacher_logits the loss is distillation (mixed with
    labels by alpha when there are labels); otherwise cross-entropy on labels. `output`: which of the
    module's outputs holds the classes. frozen_norms: batch norms keep their running statistics (they are
    calibrated for the model as it is: quantization-aware training adjusts weights, not statistics).
    embedding: the output is an embedding, learnt from teacher_logits by embedding_loss (is_embedding).
    match: a compress.layers.LayerMatch: the teacher runs on each batch (teacher_logits may then be None) and
    its hidden states teach the student's layer by layer, besides the output; closed when training ends.
    Without labels such a student trains in eval mode (no dropout): it imitates a deterministic teacher on
    every token, and dropout's noise cost all-MiniLM-L6-v2 0.01–0.02 cosine on held-out sentences.
    min_examples: an epoch passes over the examples, reshuffled, as often as it takes to see this many."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
    home = home_device(module)
    leaf_parameters(module)
    module.to(device)
    model = distributed.wrap(module, device)
    masks = {n: m.to(device) for n, m in zero_masks(module).items()} if keep_zeros else {}
    params = dict(module.named_parameters())
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=lr)
    xt = [torch.tensor(a) if a.ndim == 0 else torch.from_numpy(np.ascontiguousarray(a)) for a in xs]  # ascontiguousarray makes 0-d 1-d
    count = next(len(t) for t in xt if t.ndim)
    numbers = takes_numbers(module)
    yt = torch.from_numpy(labels) if labels is not None else None
    tt = torch.from_numpy(teacher_logits) if teacher_logits is not None else None
    probabilities = None  # told by the first batch's output (not by a forward of its own: a script may keep state)
    distilled = tt is not None or match is not None
    gen = torch.Generator().manual_seed(seed)
    per_epoch = max(count, min_examples)
    batches = max(1, -(-len(distributed.shard(torch.arange(per_epoch))) // batch_size))
    every = max(1, batches // 10)
    if match is not None:
        match.teacher.to(device)
    imitating = match is not None and labels is None
    try:
        for epoch in range(epochs):
            model.train(not imitating)
            if frozen_norms:
                for m in module.modules():
                    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                        m.eval()
            order = distributed.shard(epoch_order(count, per_epoch, gen))
            sums = np.zeros(4)
            for b, idx in enumerate(match.order(order, xt, batch_size, gen) if match is not None else order.split(batch_size)):
                cancel.check()
                inputs = [t[idx].to(device) if t.ndim else t.item() if numbers else t.to(device) for t in xt]
                if hasattr(module, "reset_states"):  # a stream's state (Silero's): each batch starts a fresh one,
                    module.reset_states()  # and the last batch's graph is not carried into this one's backward
                with MODULE_LOCK:
                    if match is not None:
                        inputs = match.cut(inputs)
                        target = match.target(inputs)
                    out = model(*inputs)
                out = out[output] if isinstance(out, (tuple, list)) else out
                if probabilities is None:
                    probabilities = not embedding and are_probabilities(out.detach())
                    tt = as_scores(tt) if probabilities and tt is not None else tt
                if probabilities:
                    out = as_scores(out)
                    if match is not None:
                        target = as_scores(target)
                y = yt[idx].to(device) if yt is not None else None
                if distilled:
                    loss, soft, hard = distillation_loss(out, target if match is not None else tt[idx].to(device), y, temperature, alpha, embedding)
                    layers = match.loss() if match is not None else torch.zeros(())
                    loss = loss + layers
                else:
                    loss = F.cross_entropy(out, y)
                    soft, hard, layers = torch.zeros(()), loss, torch.zeros(())
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    for name, mask in masks.items():
                        params[name].mul_(mask)
                sums += [loss.item(), soft.item(), hard.item(), layers.item()]
                if (b + 1) % every == 0 and b + 1 < batches:
                    yield Progress(epoch * batches + b + 1, epochs * batches, f"epoch {epoch + 1}/{epochs}", {"loss": float(sums[0] / (b + 1))})
            module.eval()
            metrics = {"epoch": epoch + 1, "loss": float(sums[0] / batches)}
            if distilled:
                metrics.update(loss_distill=float(sums[1] / batches), loss_labels=float(sums[2] / batches))
            if match is not None:
                metrics.update(loss_layers=float(sums[3] / batches))
            metrics.update(evaluate(module))
            yield Progress((epoch + 1) * batches, epochs * batches, f"epoch {epoch + 1}/{epochs}", metrics)
    finally:
        if match is not None:
            match.close()
    return module.to(home)
