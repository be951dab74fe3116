"""Running a model on data: PyTorch for modules, ONNX Runtime for ONNX. Each result names its runtime."""

from __future__ import annotations

import re

import numpy as np
import torch

from studio.core.errors import StudioError, first_line
from studio.core.evaluate.feeds import batches, examples_axis, fixed_batch, is_constant
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import Model
from studio.core.process.locks import MODULE_LOCK
from studio.core.process.threads import thread_budget

BATCH = 256  # the most examples one run is given
# and about the most input bytes: ORT's memory and time grow with the batch of a large input (an OCR detector's
# 256 scenes took gigabytes), while a small model runs fastest in large batches
BATCH_BYTES = 4 << 20
def resolve_device(device: str | None) -> str:
    device = (device or "cpu").lower()
    if device not in ("cpu", "cuda"):
        raise StudioError(f"device {device!r}: use cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise StudioError("device cuda: no CUDA GPU is available to PyTorch here; use cpu")
    return device


def runtime_name(model: Model, device: str = "cpu") -> str:
    if model.onnx is not None:
        return f"onnxruntime {ort_providers(device)[0]}"
    return f"torch {device}"


def ort_providers(device: str = "cpu") -> list[str]:
    import onnxruntime as ort

    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


ORT_ERRORS_ONLY = 3  # ORT's log severity: its warnings ("Removing initializer …") are not the user's business


def ort_errors_only() -> None:
    """ONNX Runtime logs warnings from C++ straight to the terminal, also from sessions its quantizers
    open themselves; only errors should reach it."""
    import onnxruntime

    onnxruntime.set_default_logger_severity(ORT_ERRORS_ONLY)


def ort_session(model: Model, device: str = "cpu", threads: int | None = None):
    import onnxruntime as ort

    ort_errors_only()
    opts = ort.SessionOptions()
    threads = threads or thread_budget()
    if threads:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(full_onnx(model).SerializeToString(), opts, providers=ort_providers(device))
    except Exception as e:  # ORT raises its own exception types for invalid or unsupported graphs
        raise StudioError(f"ONNX Runtime cannot run this model ({first_line(e)})", model.source) from None


def predict(model: Model, x: dict[str, np.ndarray], device: str = "cpu", batch: int | None = None,
            output: int | str = 0) -> np.ndarray:
    """One output of the model (the first, or the one named) on every example, float32 [N, ...]."""
    index = output if isinstance(output, int) else [s.name for s in model.outputs].index(output)
    return predict_outputs(model, x, device, batch)[index]


def batch_for(x: dict[str, np.ndarray]) -> int:
    """How many examples to run at once: BATCH, or fewer so that their inputs hold about BATCH_BYTES."""
    per_example = sum(a.nbytes // max(len(a), 1) for a in x.values() if not is_constant(a))
    return max(1, min(BATCH, BATCH_BYTES // max(per_example, 1)))


def predict_outputs(model: Model, x: dict[str, np.ndarray], device: str = "cpu", batch: int | None = None) -> list[np.ndarray]:
    """Every output of the model on every example, examples on axis 0, floating outputs as float32;
    `batch` examples a run (batch_for's when None)."""
    batch = batch or batch_for(x)
    if model.onnx is not None:
        session = ort_session(model, device)
        names = {i.name for i in session.get_inputs()}
        run = lambda feed: _ort_run(session, {k: v for k, v in feed.items() if k in names}, model.source)  # noqa: E731
    else:
        run = lambda feed: run_module(model.module, feed, device)  # noqa: E731
    home = None if model.module is None else home_device(model.module)
    parts, axes, fixed = [], None, fixed_batch(model)
    try:
        for count, feed in batches(model, x, batch):
            outs = [np.asarray(o) for o in run(feed)]
            fed = fixed or count  # a short last batch of a fixed-batch model was padded to it
            axes = axes or [examples_axis(o, fed) for o in outs]
            parts.append([np.moveaxis(o, a, 0)[:count] if o.ndim else o[None] for o, a in zip(outs, axes)])
    finally:
        if home is not None:
            model.module.to(home)  # versions live on the CPU: a GPU holds a module only while a job uses it
    outputs = [np.concatenate(column) for column in zip(*parts)]
    return [o.astype(np.float32) if o.dtype.kind == "f" else o for o in outputs]


def _ort_run(session, feed: dict[str, np.ndarray], source: str) -> list:
    """session.run, with ONNX Runtime's complaint about the inputs (data of another shape or type than
    the model's) as a StudioError in one line: its first line alone ends in "…for the following indices"."""
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

    try:
        return session.run(None, feed)
    except InvalidArgument as e:
        raise StudioError(f"the data does not fit the model: {ort_message(e)}", source) from None


def ort_message(e: BaseException) -> str:
    """An ONNX Runtime error's whole message on one line, without its code and its advice to programmers;
    wrong sizes are said axis by axis."""
    text = " ".join(line.strip() for line in str(e).splitlines()[1:] if line.strip() and not line.strip().startswith("Please fix"))
    text = f"{first_line(e, limit=10_000)} {text}".strip()
    sizes = _BAD_DIMS.match(text)
    if sizes is None:
        return text
    axes = [f"axis {axis} is {want} in the model, {got} in the data" for axis, got, want in _BAD_AXIS.findall(sizes[2])]
    return f"input {sizes[1]}: " + "; ".join(axes) if axes else text


_BAD_DIMS = re.compile(r"Got invalid dimensions for input: (\S+) for the following indices(.*)")
_BAD_AXIS = re.compile(r"index: (\d+) Got: (\d+) Expected: (\d+)")


CONVERTED_OPERATORS = ("onnx2torch.", "studio.core.formats.onnx_to_torch")


def takes_numbers(module: torch.nn.Module) -> bool:
    """Whether the module's 0-d inputs go in as Python numbers: TorchScript signatures such as `sr: int`
    take no tensor; a module converted from ONNX computes with them as its graph did, as tensors. The
    converted one is known by its operators' modules, which copies keep (a mark of ours would not survive
    GraphModule's deepcopy)."""
    return not any(type(m).__module__.startswith(CONVERTED_OPERATORS) for m in module.children())


def run_module(module: torch.nn.Module, feed: dict[str, np.ndarray], device: str) -> list[np.ndarray]:
    module = module.to(device)
    was_training = module.training
    module.eval()
    number = takes_numbers(module)
    args = [a.item() if a.ndim == 0 and number else torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in feed.values()]
    try:
        with torch.no_grad(), MODULE_LOCK:
            out = module(*args)
    finally:
        module.train(was_training)
    return [t.float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy() for t in _tensors(out)]


def _tensors(out) -> list[torch.Tensor]:
    """The tensors of a module's output, in order: a tensor, or tuples, lists and dicts of them."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def predict_module(module: torch.nn.Module, arrays: list[np.ndarray], device: str = "cpu", batch: int = BATCH,
                   output: int = 0) -> np.ndarray:
    """One output of a bare module (a version being trained) on every example."""
    home, outs = home_device(module), []
    try:
        for start in range(0, max((len(a) for a in arrays if a.ndim), default=0), batch):
            feed = {str(k): a if a.ndim == 0 else a[start : start + batch] for k, a in enumerate(arrays)}
            outs.append(run_module(module, feed, device)[output])
    finally:
        module.to(home)
    return np.concatenate(outs)


def home_device(module: torch.nn.Module) -> torch.device:
    """Where a module's tensors are (the CPU for one without any)."""
    first = next(module.parameters(), None)
    first = first if first is not None else next(module.buffers(), None)
    return first.device if first is not None else torch.device("cpu")
