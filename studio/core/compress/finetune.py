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
from studio.core.compress.train import copy_module, is_embedding, train
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.metrics import accuracy, class_output, fidelity
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


def evaluator(data: DataSet, reference: np.ndarray | None, device: str = "cpu", output: int = 0):
    """A function module → metrics on `data`: accuracy with labels, fidelity to reference logits."""
    arrays = list(data.x.values())

    def evaluate(module) -> dict:
        logits = predict_module(module, arrays, device, output=output)
        out = {"accuracy": accuracy(logits, data.y)} if data.labeled else {}
        if reference is not None:
            out.update(fidelity(logits, reference))
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
        match = layer_match(module, model.inputs, teacher, teacher_output, model.tokenizer)  # the teacher then runs on each batch
        if match is None:
            teacher_train = predict(teacher, train_set.shaped_for(teacher.inputs).x, device, output=teacher_output)
        teacher_test = predict(teacher, test_set.shaped_for(teacher.inputs).x, device, output=teacher_output)
    trained = yield from train(
        module, list(train_set.x.values()), train_set.y, teacher_train, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
        temperature=UNLABELED_TEMPERATURE, alpha=0.0, device=device, cancel=cancel, seed=seed,
        evaluate=evaluator(test_set, teacher_test, device, output), output=output,
        embedding=not data.labeled and is_embedding(model, output), match=match,
        min_examples=UNLABELED_EPOCH_EXAMPLES if teacher_train is not None else 0,
    )
    return replace(model, module=trained.cpu(), notes=list(model.notes))

