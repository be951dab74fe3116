"""Knowledge distillation (Hinton et al. 2015): a small student learns the teacher's temperature-softened
outputs, mixed with the labels by alpha — or from the teacher alone when there are no labels.

The teacher is any loaded version: run in PyTorch, or in ONNX Runtime when it is ONNX. Its outputs on
the training split are computed once, so an ONNX-only model can teach a trainable student. A BERT-style
encoder teaching a student made from it (`{width: …}`, `{layers: …}`) teaches layer by layer instead
(compress/layers: hidden states as well as outputs, the teacher run on each batch)."""

from __future__ import annotations

import copy
from dataclasses import replace

import torch

from studio.core.compress.channels import channels
from studio.core.compress.finetune import evaluator, splits
from studio.core.compress.layers import hf_model, keep_layers, layer_match, made_from
from studio.core.compress.train import train
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.metrics import is_embedding
from studio.core.evaluate.runtime import predict
from studio.core.formats import samples
from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress


def make_student(teacher: Model, spec: dict, trust: bool = False) -> Model:
    """{width: f}: the teacher with 1 − f of its channels removed (Torch-Pruning), keeping its weights;
    {layers: n[, width: f]}: a Hugging Face encoder keeping n of its layers (0, k, 2k…: DistilBERT's
    every-other-layer student for half of them), then slimmed by width where given;
    {model: path}: another model file; {sample: name[, width: f]}: a sample architecture, untrained."""
    if "sample" in spec:
        name = spec["sample"]
        if name not in samples.SAMPLE_MODELS:
            raise StudioError(f"student: no sample architecture {name!r}; try: {', '.join(samples.SAMPLE_MODELS)}")
        s = samples.SAMPLE_MODELS[name]
        torch.manual_seed(int(spec.get("seed", 0)))
        module = s.build(width=spec["width"]) if "width" in spec and name == "lenet-300-100" else s.build()
        return Model(f"sample:{name}", Format.SAMPLE, [TensorSpec("input", ("batch", *s.input_shape))],
                     [TensorSpec("logits", ("batch", 10))], module=module.train(),
                     notes=["an untrained sample architecture"])
    if "model" in spec:
        student = load_model(spec["model"], trust=trust)
        if student.module is None:
            raise StudioError("student: must be a trainable PyTorch model (not ONNX or weights only)", spec["model"])
        return student
    if "layers" in spec:
        return _fewer_layers(teacher, spec)
    if "width" in spec:
        if teacher.module is None:
            raise StudioError("student: {width: …} slims a PyTorch teacher; for an ONNX teacher give {sample: …} or {model: …}")
        width = float(spec["width"])
        if not 0 < width < 1:
            raise StudioError(f"student.width: {width} must be between 0 and 1")
        allowed = teacher.capabilities()["prune_structured"]
        if not allowed.allowed:
            raise StudioError(f"student: a slimmer copy is cut by removing channels, and {allowed.reason}; give {{sample: …}} or "
                              "{model: …}", teacher.source)
        return channels(teacher, 1 - width, round_to=None)
    raise StudioError("student: give {width: 0.25}, {layers: 3}, {model: PATH} or {sample: NAME}")


def _fewer_layers(teacher: Model, spec: dict) -> Model:
    count = spec["layers"]
    if not isinstance(count, int) or isinstance(count, bool):
        raise StudioError(f"student.layers: expected a whole number of layers, not {count!r}")
    if teacher.module is None or teacher.format is not Format.HF_FOLDER:
        raise StudioError("student: {layers: …} keeps layers of a Hugging Face encoder opened as a folder")
    module = copy.deepcopy(teacher.module).cpu().eval()
    before, after = keep_layers(hf_model(module), count)
    student = replace(teacher, module=module, notes=[*teacher.notes, f"encoder layers {before} → {after} (the teacher's "
                                                     f"{', '.join(str(i) for i in range(0, before, before // after))})"])
    return make_student(student, {"width": spec["width"]}) if "width" in spec else student


def distill(teacher: Model, student: Model, data: DataSet, *, epochs: int = 10, temperature: float = 4.0,
            alpha: float = 0.7, lr: float = 3e-3, batch_size: int = 64, optimizer: str = "adam", device: str = "cpu",
            seed: int = 0, cancel: CancelToken = NO_CANCEL) -> Job[Model]:
    """A trained copy of `student`. Progress metrics per epoch: loss and its distillation and label parts,
    the student's accuracy (labels) or agreement with the teacher, and the teacher's line to beat."""
    train_set, test_set = splits(student, data)
    teacher_train_set = data.shaped_for(teacher.inputs).train()
    teacher_test_set = data.shaped_for(teacher.inputs).test()
    module = copy.deepcopy(student.module)
    match = (layer_match(module, student.inputs, teacher)
             if teacher.module is not None and made_from(module, teacher.module) else None)
    yield Progress(0, 1, "running the teacher on the data")
    teacher_train = None if match is not None else predict(teacher, teacher_train_set.x, device)
    teacher_test = predict(teacher, teacher_test_set.x, device)
    cancel.check()
    baseline = {"teacher_accuracy": float((teacher_test.argmax(1) == test_set.y).mean())} if data.labeled else {}
    evaluate = evaluator(test_set, teacher_test, device, classes=not is_embedding(teacher))
    trained = yield from train(
        module, list(train_set.x.values()), train_set.y, teacher_train, epochs=epochs, lr=lr,
        batch_size=batch_size, optimizer=optimizer, temperature=temperature, alpha=alpha if data.labeled else 1.0,
        device=device, cancel=cancel, evaluate=lambda m: {**evaluate(m), **baseline}, keep_zeros=False, seed=seed,
        embedding=is_embedding(student) and is_embedding(teacher), match=match,
    )
    return replace(student, module=trained.cpu(), notes=list(student.notes) + [f"distilled from {teacher.source}"])
