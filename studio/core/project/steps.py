"""The operations a recipe step or a window action can perform, each a named unit in one table.

Every op validates its options (schema), describes itself in a few words (for the version's label),
and runs as a job that returns a new Model, leaving the one it started from untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from studio.core.compress import prune
from studio.core.compress.channels import channels, examples_wanted
from studio.core.compress.conversion import trainable_version
from studio.core.compress.distill import distill, make_student
from studio.core.compress.finetune import finetune
from studio.core.compress.qat import qat
from studio.core.compress.quantize import quantize
from studio.core.compress.quantize_ort import CALIBRATIONS, MODES, Settings
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.formats.model import Model
from studio.core.process.jobs import CancelToken, Job, Progress, offset
from studio.core.project.schema import Field, validate


@dataclass
class Context:
    data: DataSet | None
    device: str
    cancel: CancelToken
    original: Model  # the version the run started from: the teacher when fine-tuning without labels


@dataclass(frozen=True)
class Op:
    name: str
    fields: dict[str, Field]
    run: Callable[[Model, dict, Context], Job[Model]]
    describe: Callable[[dict], str]
    needs_data: bool = False

    def validate(self, where: str, options) -> dict:
        return validate(where, options, self.fields)


def _prune(model: Model, o: dict, ctx: Context) -> Job[Model]:
    if o["method"] == "channels":
        if model.onnx is not None and model.capabilities()["prune_structured"].allowed:
            if ctx.data is None:
                raise StudioError("removing channels from an ONNX model converts it to PyTorch, checked on data: choose data", model.source)
            model = yield from trainable_version(model, ctx.data, ctx.device, refused="channels are removed from a PyTorch version: ")
        yield Progress(0, 1, "removing channels (Torch-Pruning)")
        # the layers are refitted on examples of the training split (a transformer's heads also ranked on them)
        example = None if ctx.data is None else ctx.data.train().example_for(model.inputs, examples_wanted(model, ctx.data))
        return channels(model, o["ratio"], o["round_to"], o["exclude"], example)
    if o["sparsity"] is None:
        raise StudioError("prune: magnitude pruning needs a 'sparsity' from 0 to 1")
    allowed = model.capabilities()["prune_unstructured"]
    if not allowed.allowed:
        raise StudioError(allowed.reason, model.source)
    if o["schedule"] == "gradual":
        return (yield from _gradual(model, o, ctx))
    yield Progress(0, 1, f"pruning {o['sparsity']:.0%} of the weights by magnitude")
    return prune.magnitude(model, o["sparsity"], o["scope"], o["exclude"], o["layers"])


def _gradual(model: Model, o: dict, ctx: Context) -> Job[Model]:
    """Zhu & Gupta 2017: sparsity rises as s_f·(1 − (1 − t/n)³) over n epochs of fine-tuning."""
    n = o["epochs"]
    if ctx.data is None:
        raise StudioError("gradual pruning fine-tunes as it goes: it needs data")
    for t in range(1, n + 1):
        target = o["sparsity"] * (1 - (1 - t / n) ** 3)
        model = prune.magnitude(model, target, o["scope"], o["exclude"], o["layers"])
        job = finetune(model, ctx.data, epochs=1, lr=o["lr"], device=ctx.device, teacher=ctx.original, cancel=ctx.cancel)
        model = yield from offset(job, t - 1, n, f"sparsity {target:.1%}, ")
    return model


def _finetune(model: Model, o: dict, ctx: Context) -> Job[Model]:
    return (yield from finetune(model, ctx.data, epochs=o["epochs"], lr=o["lr"], batch_size=o["batch_size"],
                                optimizer=o["optimizer"], device=ctx.device, teacher=ctx.original, seed=o["seed"], cancel=ctx.cancel))


def _distill(model: Model, o: dict, ctx: Context) -> Job[Model]:
    slimmed = model
    cut = "width" in o["student"] and not {"sample", "model"} & o["student"].keys()  # a {width} student cut from the teacher
    if cut and model.onnx is not None and ctx.data is not None:  # the teacher still runs in ORT
        slimmed = yield from trainable_version(model, ctx.data, ctx.device, refused="a slimmer student is made from a PyTorch version: ")
    student = make_student(slimmed, o["student"])
    return (yield from distill(model, student, ctx.data, epochs=o["epochs"], temperature=o["temperature"], alpha=o["alpha"],
                               lr=o["lr"], batch_size=o["batch_size"], optimizer=o["optimizer"], device=ctx.device,
                               seed=o["seed"], cancel=ctx.cancel))


def _describe_distill(o: dict) -> str:
    s = o["student"]
    who = f"width {s['width']:g}" if "width" in s and "sample" not in s else s.get("sample") or s.get("model") or "student"
    return f"distilled into {who}"


def _quantize(model: Model, o: dict, ctx: Context) -> Job[Model]:
    if o["mode"] == "qat":
        if ctx.data is None:
            raise StudioError("quantization-aware training trains on data: choose a data set")
        return (yield from qat(model, ctx.data, bits=o["bits"] or 8, epochs=o["epochs"], lr=o["lr"], samples=o["samples"],
                               calibration=o["calibration"], teacher=ctx.original, device=ctx.device, cancel=ctx.cancel))
    return (yield from quantize(model, ctx.data, mode=o["mode"], calibration=o["calibration"], samples=o["samples"],
                                per_channel=o["per_channel"], bits=o["bits"] or 4, exclude=o["exclude"], keep_float=o["keep_float"],
                                max_drop=o["max_drop"], tolerance=o["tolerance"], device=ctx.device, cancel=ctx.cancel))


def _describe_quantize(o: dict) -> str:
    if o["mode"] == "qat":
        weights = "int4 weights" if o["bits"] == 4 else "int8"
        ranges = "" if o["calibration"] == "minmax" else f", {o['calibration']} ranges"
        return f"{weights} after quantization-aware training ({o['epochs']} epoch" + "s" * (o["epochs"] != 1) + f"{ranges})"
    text = Settings(o["mode"], o["calibration"], o["samples"], o["per_channel"], o["bits"] or 4).describe()
    return text + (f", up to {o['keep_float']} layers float" if o["keep_float"] else "")


def _describe_prune(o: dict) -> str:
    if o["method"] == "channels":
        return f"{o['ratio']:.0%} of channels removed"
    return f"pruned {o['sparsity']:.0%}" + (" (gradual)" if o["schedule"] == "gradual" else "")


OPS: dict[str, Op] = {
    "prune": Op(
        "prune",
        {
            "method": Field(str, "magnitude", choices=("magnitude", "channels"), help="magnitude: single weights; channels: whole channels"),
            "scope": Field(str, "global", choices=("global", "layer"), help="one threshold for all layers, or the same share in each"),
            "sparsity": Field(float, None, 0.0, 0.999, help="share of weights set to zero (magnitude)"),
            "layers": Field(dict, None, help="per-layer sparsity, e.g. {fc1: 0.97} (magnitude)"),
            "exclude": Field(list, [], help="layer names or types left alone"),
            "schedule": Field(str, "one-shot", choices=("one-shot", "gradual"), help="gradual: prune while fine-tuning"),
            "epochs": Field(int, 5, 1, 1000, help="fine-tuning epochs of a gradual schedule"),
            "lr": Field(float, 1e-3, 0.0, 10.0, help="learning rate of a gradual schedule"),
            "ratio": Field(float, 0.5, 0.0, 0.99, help="share of channels removed (channels)"),
            "round_to": Field(int, 8, 1, 512, help="keep channel counts a multiple of this (channels)"),
        },
        _prune,
        _describe_prune,
    ),
    "finetune": Op(
        "finetune",
        {
            "epochs": Field(int, 3, 1, 1000),
            "lr": Field(float, 1e-3, 0.0, 10.0),
            "batch_size": Field(int, 64, 1, 65536),
            "optimizer": Field(str, "adam", choices=("adam", "adamw", "sgd")),
            "seed": Field(int, 0, 0, 2**31 - 1, help="shuffling and initialisation seed"),
        },
        _finetune,
        lambda o: f"fine-tuned {o['epochs']} epoch" + "s" * (o["epochs"] != 1),
        needs_data=True,
    ),
    "distill": Op(
        "distill",
        {
            "student": Field(dict, {"width": 0.25}, help="{width: 0.25}, {model: PATH} or {sample: NAME}"),
            "epochs": Field(int, 10, 1, 1000),
            "temperature": Field(float, 4.0, 0.1, 100.0, help="softens the teacher's outputs"),
            "alpha": Field(float, 0.7, 0.0, 1.0, help="weight of the teacher against the labels"),
            "lr": Field(float, 3e-3, 0.0, 10.0, help="3e-3 measured best for 10-epoch students (benchmarks/bench_distill.py)"),
            "batch_size": Field(int, 64, 1, 65536),
            "optimizer": Field(str, "adam", choices=("adam", "adamw", "sgd")),
            "seed": Field(int, 0, 0, 2**31 - 1),
        },
        _distill,
        _describe_distill,
        needs_data=True,
    ),
    "quantize": Op(
        "quantize",
        {
            "mode": Field(str, "dynamic", choices=(*MODES, "qat"),
                          help="dynamic: int8 weights; static: int8 weights and activations, calibrated on data; "
                               "fp16: half precision; weights-only: 4/8-bit matrix weights (MatMul layers); "
                               "qat: trained for int8 first (quantization-aware training), then static"),
            "calibration": Field(str, "minmax", choices=CALIBRATIONS, help="how static mode (and qat) picks activation ranges"),
            "samples": Field(int, 256, 1, 1_000_000, help="calibration examples from the train split (static)"),
            "per_channel": Field(bool, True, help="one scale per output channel: closer to float, a little larger"),
            "bits": Field(int, None, choices=(4, 8), help="bits per weight (weights-only: 4 unless given; qat: 8 unless given, or 4)"),
            "exclude": Field(list, [], help="layer names, node names or op types kept float"),
            "keep_float": Field(int, 0, 0, 10_000, help="how many of the layers that hurt most stay float (ranked on data)"),
            "max_drop": Field(float, None, 0.0, 1.0, help="keep only as many of those float as hold the accuracy drop within this"),
            "tolerance": Field(float, 0.01, 0.0, 1.0, help="the most accuracy (or agreement with the float model, without labels) "
                               "the result may lose before its most sensitive layers are kept float; 0: never"),
            "epochs": Field(int, 2, 1, 1000, help="training epochs (qat)"),
            "lr": Field(float, 1e-4, 0.0, 10.0, help="learning rate (qat)"),
        },
        _quantize,
        _describe_quantize,
    ),
}
