"""Fine-tuning after pruning (Han et al. 2015): pruned weights stay exactly zero. With labels the loss
is cross-entropy; without labels the pruned model learns to match the unpruned one (distillation): a
BERT-style encoder layer by layer, its hidden states as well as its output (compress/layers). A small
unlabeled data set is gone through several times per epoch (UNLABELED_EPOCH_EXAMPLES): a few dozen
examples give one step per epoch, and matching the teacher closely takes thousands."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from studio.core.compress.conversion import trainable_version
from studio.core.compress.layers import layer_match
from studio.core.compress.train import copy_module, train
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.metrics import accuracy, class_output, fidelity, is_embedding
from studio.core.evaluate.runtime import predict, predict_module
from studio.core.formats.model import Model
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress

UNLABELED_TEMPERATURE = 2.0
# examples seen per epoch at least when learning the teacher's outputs; the teacher answers the real
# examples themselves: mixed, noisy, shifted or mirrored ones measured worse on the corpus's detector
UNLABELED_EPOCH_EXAMPLES = 256


def splits(model: Model, data: DataSet) -> tuple[DataSet, DataSet]:
    """The training and test splits, each input shaped and typed as the model declares it."""
    shaped = data.shaped_for(model.inputs)
    return shaped.train(), shaped.test()


def evaluator(data: DataSet, reference: np.ndarray | None, device: str = "cpu", output: int = 0, classes: bool = True):
    """A function module → metrics on `data`: accuracy with labels, fidelity to reference logits (`classes`:
    False when they are an embedding)."""
    arrays = list(data.x.values())

    def evaluate(module) -> dict:
        logits = predict_module(module, arrays, device, output=output)
        out = {"accuracy": accuracy(logits, data.y)} if data.labeled else {}
        if reference is not None:
            out.update(fidelity(logits, reference, classes))
        return out

    return evaluate


def finetune(model: Model, data: DataSet, *, epochs: int = 3, lr: float = 1e-3, batch_size: int = 64,
             optimizer: str = "adam", device: str = "cpu", teacher: Model | None = None, seed: int = 0,
             cancel: CancelToken = NO_CANCEL) -> Job[Model]:
    """A new version trained for `epochs`; without labels it needs a teacher (the unpruned version). An
    ONNX model is converted to PyTorch first, and checked (compress/conversion)."""
    model = yield from trainable_version(model, data, device)
    if not any(p.requires_grad for p in model.module.parameters()):
        raise StudioError("the model has no trainable parameters (a frozen TorchScript module keeps its weights as constants)", model.source)
    train_set, test_set = splits(model, data)
    if not data.labeled and teacher is None:
        raise StudioError("fine-tuning without labels needs the unpruned version to learn from")
    teacher_train = teacher_test = match = None
    output = class_output(model, data)
    module = copy_module(model.module)
    if not data.labeled:
        yield Progress(0, 1, "computing the unpruned model's outputs")
        teacher_output = class_output(teacher, data)
        match = layer_match(module, model.inputs, teacher, teacher_output)  # the teacher then runs on each batch
        if match is None:
            teacher_train = predict(teacher, train_set.shaped_for(teacher.inputs).x, device, output=teacher_output)
        teacher_test = predict(teacher, test_set.shaped_for(teacher.inputs).x, device, output=teacher_output)
    evaluate = evaluator(test_set, teacher_test, device, output, not is_embedding(model, output))
    closest = Closest(list(train_set.x.values()), teacher_train, device, output) if teacher_train is not None else None
    if closest is not None:
        closest.check(module)
        evaluate = closest.checking(evaluate)
    trained = yield from train(
        module, list(train_set.x.values()), train_set.y, teacher_train, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
        temperature=UNLABELED_TEMPERATURE, alpha=0.0, device=device, cancel=cancel, seed=seed,
        evaluate=evaluate, output=output,
        embedding=not data.labeled and is_embedding(model, output), match=match,
        min_examples=UNLABELED_EPOCH_EXAMPLES if teacher_train is not None else 0,
    )
    notes = list(model.notes)
    if closest is not None:
        closest.restore(trained)
    if closest is not None and closest.epoch < epochs:
        notes.append(f"fine-tuning kept epoch {closest.epoch} of {epochs}" if closest.epoch else
                     "fine-tuning did not bring the pruned model closer to the original on the training examples: its weights are kept")
    return replace(model, module=trained.cpu(), notes=notes)


class Closest:
    """The weights, of those before training and after each epoch, whose outputs on the training examples
    are closest to the original's (relative squared error). Learning the original's outputs from a few
    examples: once the pruned model is close, Adam's steps (each weight moves by about the learning rate,
    whatever its gradient) can carry it away again, as they did a real pitch estimator."""

    def __init__(self, xs: list[np.ndarray], teacher: np.ndarray, device: str, output: int):
        self.xs, self.teacher, self.device, self.output = xs, teacher, device, output
        self.power = max(float(np.mean(np.square(teacher, dtype=np.float64))), 1e-12)
        self.checks, self.epoch, self.error, self.state = 0, 0, np.inf, None

    def check(self, module) -> None:
        out = predict_module(module, self.xs, self.device, output=self.output)
        error = float(np.mean(np.square(out - self.teacher, dtype=np.float64))) / self.power
        if error < self.error:
            self.epoch, self.error = self.checks, error
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.checks += 1

    def checking(self, evaluate):
        def both(module) -> dict:
            self.check(module)
            return evaluate(module)

        return both

    def restore(self, module) -> None:
        """Load the closest weights into `module` (those of `epoch`; 0: before training)."""
        module.load_state_dict(self.state)

