"""Distillation targets of issue 6, 5 seeds each (median and spread):

1. sample:lenet-300-100 teaching a student with ≤ 1/10 of its weights (width 0.1): the student within
   4 pt of the teacher; distillation beside the same student trained on labels alone, and beside
   label-free distillation — whichever wins.
2. Labels for only 10 % of the training split: label-free distillation on the whole split against the
   same student trained on the labelled 10 % (target: ≥ 5 pt better).
"""

from __future__ import annotations

import copy
import statistics

import numpy as np
from common import write

from studio.core.compress.distill import distill, make_student
from studio.core.compress.finetune import evaluator
from studio.core.compress.train import train
from studio.core.evaluate.data import load_data
from studio.core.evaluate.metrics import evaluate
from studio.core.formats.load import load_model
from studio.core.process.jobs import NO_CANCEL, run_to_end

SEEDS = range(5)
EPOCHS = 10
LR = 3e-3  # the studio's default for distillation; every student here uses it


def spread(values) -> str:
    return f"{statistics.median(values):.2%} ({min(values):.2%}–{max(values):.2%})"


def labels_only(student, x, y, test, seed: int, epochs: int = EPOCHS) -> float:
    """The same student trained with cross-entropy on (x, y) alone, same optimiser."""
    module = copy.deepcopy(student.module)
    run_to_end(train(module, [x], y, None, epochs=epochs, lr=LR, cancel=NO_CANCEL, evaluate=lambda m: {}, keep_zeros=False, seed=seed))
    return evaluator(test, None)(module)["accuracy"]


def main() -> None:
    teacher = load_model("sample:lenet-300-100")
    data = load_data("sample:mnist5k")
    shaped = data.shaped_for(teacher.inputs)
    train_set, test = shaped.train(), shaped.test()
    unlabeled = load_data({"path": "sample:mnist5k", "labels": "none"})
    teacher_acc = evaluate(teacher, data.test())["accuracy"]
    student = make_student(teacher, {"width": 0.1})
    n_student = sum(p.numel() for p in student.module.parameters())
    n_teacher = sum(p.numel() for p in teacher.module.parameters())
    x_all = train_set.x["input"]
    tenth = np.random.default_rng(0).permutation(len(x_all))[: len(x_all) // 10]
    runs = {"kd": [], "labels": [], "free": [], "tenth": []}
    for seed in SEEDS:
        for key, d in (("kd", data), ("free", unlabeled)):
            trained = run_to_end(distill(teacher, student, d, epochs=EPOCHS, temperature=4, alpha=0.7, lr=LR, seed=seed))
            runs[key].append(evaluate(trained, data.test())["accuracy"])
        runs["labels"].append(labels_only(student, x_all, train_set.y, test, seed))
        # ten times the epochs: as many optimiser steps as the runs on the whole split
        runs["tenth"].append(labels_only(student, x_all[tenth], train_set.y[tenth], test, seed, epochs=EPOCHS * 10))
    med = {k: statistics.median(v) for k, v in runs.items()}
    rows = [
        ["teacher lenet-300-100", f"{n_teacher:,}", f"{teacher_acc:.2%}", "–", "–"],
        ["student width 0.1, distillation (T 4, α 0.7) with all labels", f"{n_student:,}", spread(runs["kd"]),
         f"{(teacher_acc - med['kd']) * 100:.2f}", "within 4 pt of the teacher"],
        ["same student, labels alone (cross-entropy)", f"{n_student:,}", spread(runs["labels"]),
         f"{(teacher_acc - med['labels']) * 100:.2f}", "peer"],
        ["same student, label-free distillation (no labels at all)", f"{n_student:,}", spread(runs["free"]),
         f"{(teacher_acc - med['free']) * 100:.2f}", "peer"],
        ["same student, labels alone on 10 % of the training split (10× the epochs: as many steps)", f"{n_student:,}", spread(runs["tenth"]),
         f"{(teacher_acc - med['tenth']) * 100:.2f}", f"label-free beats it by {(med['free'] - med['tenth']) * 100:.1f} pt (target ≥ 5)"],
    ]
    write("distill", "Distillation targets (issue 6)",
          ["run", "parameters", "test accuracy: median (min–max), 5 seeds", "pt below teacher", "target / note"], rows,
          f"sample:mnist5k (4,000 training, 1,000 test images); {EPOCHS} epochs, Adam lr {LR:g}, batch 64 for every student; "
          "the student is the teacher slimmed to width 0.1 by Torch-Pruning (its kept weights as the starting point).")


if __name__ == "__main__":
    main()
