"""Accuracy with labels (on the output that holds the classes); fidelity to a reference without them
(agreement, cosine, SQNR, over every output)."""

from __future__ import annotations

import numpy as np

from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.runtime import predict_outputs, runtime_name
from studio.core.formats.model import Model

# outputs that are embeddings (a vector per example or per token), not class scores, by their names (formats/load_hf)
EMBEDDING_OUTPUTS = {"sentence_embedding", "last_hidden_state", "pooler_output", "embedding", "embeddings", "text_embeds", "image_embeds"}


def is_embedding(model: Model, output: int = 0) -> bool:
    """Whether the model's output `output` is an embedding: compared by direction, learnt from a teacher by
    direction, not by softmax; its largest dimension is no answer."""
    return len(model.outputs) > output and model.outputs[output].name in EMBEDDING_OUTPUTS


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.reshape(len(logits), -1).argmax(axis=1) == labels).mean())


def class_output(model: Model, data: DataSet) -> int:
    """Which output holds the classes: the one the data names; the only one; else the one whose last
    dimension fits the labels (equal to the class count where the data knows it). Several that fit
    are refused with their names: the data must name one (data: {path: …, output: NAME})."""
    names = [s.name for s in model.outputs]
    if data.output is not None:
        if data.output not in names:
            raise StudioError(f"output {data.output!r} is not one of the model's outputs ({', '.join(names)})", data.name)
        return names.index(data.output)
    if len(names) <= 1 or not data.labeled:
        return 0
    sample = data.subset(slice(0, 2)).shaped_for(model.inputs)
    outs = predict_outputs(model, sample.x)
    wanted = len(data.classes) if data.classes else None
    fits = [k for k, o in enumerate(outs) if o.ndim == 2 and o.shape[1] > int(data.y.max())]
    exact = [k for k in fits if outs[k].shape[1] == wanted]
    chosen = exact or fits
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise StudioError(f"no output of the model holds one score per class ({', '.join(names)}); "
                          "accuracy needs one: choose data without labels, or name the output", data.name)
    raise StudioError(f"outputs {', '.join(names[k] for k in chosen)} could each hold the classes: name the one "
                      "that does (data: {path: …, output: NAME})", data.name)


def fidelity(logits, reference, classes: bool = True) -> dict[str, float]:
    """How closely outputs follow the reference's: agreement (on the first array given, see agreement;
    `classes`: False when it is an embedding), and the mean cosine and SQNR in dB of the worst-followed output
    when given lists of every output."""
    outs = logits if isinstance(logits, list) else [logits]
    refs = reference if isinstance(reference, list) else [reference]
    cosines, sqnrs = [], []
    for out, ref in zip(outs, refs):
        a, r = out.reshape(len(out), -1).astype(np.float64), ref.reshape(len(ref), -1).astype(np.float64)
        if a.shape[1] == 1:  # one value per example: the cosine of one number is its sign, so over the examples
            a, r = a.T, r.T
        cos = (a * r).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(r, axis=1), 1e-12)
        noise = np.sum((a - r) ** 2)
        cosines.append(float(cos.mean()))
        sqnrs.append(float(10 * np.log10(np.sum(r**2) / noise)) if noise > 0 else float("inf"))
    return {"agreement": agreement(outs[0], refs[0], classes), "cosine": min(cosines), "sqnr_db": min(sqnrs)}


CLOSE_DB = 20.0  # an example whose output is within this SQNR of the reference's gives "the same answer"


def agreement(out: np.ndarray, reference: np.ndarray, classes: bool = True) -> float:
    """Share of examples that give the same answer: the same top class for class scores ([N, C]); for
    any other output (a box map, a probability, an embedding: `classes` False, whose largest dimension
    means nothing) an output within CLOSE_DB of the reference (for one value per example, of the
    reference's power over the examples: a probability near 0 is not judged by its own tiny size)."""
    a, r = out.reshape(len(out), -1).astype(np.float64), reference.reshape(len(reference), -1).astype(np.float64)
    if classes and out.ndim == 2 and out.shape[1] > 1:
        return float((a.argmax(1) == r.argmax(1)).mean())
    noise, signal = ((a - r) ** 2).sum(1), (r**2).sum(1)
    if a.shape[1] == 1:
        signal = np.full_like(signal, signal.mean())
    return float((signal >= noise * 10 ** (CLOSE_DB / 10)).mean())


def scored(model: Model, data: DataSet, device: str = "cpu") -> tuple[list[np.ndarray], int]:
    """Every output on the data, the class output first (agreement and accuracy are measured on it)."""
    index = class_output(model, data)
    outs = predict_outputs(model, data.shaped_for(model.inputs).x, device)
    return [outs[index], *outs[:index], *outs[index + 1 :]], index


def evaluate(model: Model, data: DataSet, device: str = "cpu", reference: list[np.ndarray] | None = None) -> dict:
    """Accuracy on labelled data, fidelity to `reference` outputs (from `scored`) when given; both
    name the runtime."""
    outs, index = scored(model, data, device)
    out: dict = {"runtime": runtime_name(model, device)}
    if data.labeled:
        out["accuracy"] = accuracy(outs[0], data.y)
    if reference is not None:
        out.update(fidelity(outs, reference, not is_embedding(model, index)))
    return out
