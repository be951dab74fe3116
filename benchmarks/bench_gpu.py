"""The same recipes on the CPU and on a CUDA GPU (where PyTorch sees one): wall time of each step,
median of 3 runs, and the accuracy each reaches. Without a GPU the table holds the CPU rows only.

Defaults as the window uses them (batch 64); the sample models are small, so a GPU's speed-up is
bounded by per-batch launch overhead, not arithmetic."""

from __future__ import annotations

import statistics
import time

import torch
from common import write

from studio.core.process.jobs import run_to_end
from studio.core.project.recipe import parse_recipe, run_recipe

RUNS = 3
RECIPES = {
    "lenet-5: fine-tune 3 epochs": {"model": "sample:lenet-5", "steps": [{"finetune": {"epochs": 3}}]},
    "lenet-5: prune 80 % gradually over 3 epochs": {
        "model": "sample:lenet-5", "steps": [{"prune": {"sparsity": 0.8, "schedule": "gradual", "epochs": 3}}]},
    "lenet-300-100: distill into width 0.5, 3 epochs": {
        "model": "sample:lenet-300-100", "steps": [{"distill": {"student": {"width": 0.5}, "epochs": 3}}]},
}


def timed(raw: dict, device: str) -> tuple[float, float]:
    recipe = parse_recipe({**raw, "data": "sample:mnist5k", "device": device})
    start = time.perf_counter()
    step = run_to_end(run_recipe(recipe)).steps[-1]
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, step.metrics["accuracy"]


def main() -> None:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for label, raw in RECIPES.items():
        for device in devices:
            timed(raw, device)  # warm-up: first-use imports and CUDA context
            runs = [timed(raw, device) for _ in range(RUNS)]
            seconds = [s for s, _ in runs]
            name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
            rows.append([label, name, f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}–{max(seconds):.2f})",
                         f"{runs[0][1]:.2%}"])
    write("gpu", "CPU and CUDA GPU (studio run --device cuda)", ["recipe", "device", f"wall time, median of {RUNS} (min–max)", "test accuracy"], rows,
          "Loading the sample and measuring each version are included; sample:mnist5k (4,000 training, 1,000 test images).")


if __name__ == "__main__":
    main()
