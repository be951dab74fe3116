"""Running a model on data: PyTorch for modules, ONNX Runtime for ONNX. Each result names its runtime."""

from __future__ import annotations


import numpy as np
import torch

from studio.core.errors import StudioError, first_line
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import Model
from studio.core.process.locks import MODULE_LOCK
from studio.core.process.threads import thread_budget

BATCH = 256
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


def ort_session(model: Model, device: str = "cpu", threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    threads = threads or thread_budget()
    if threads:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(full_onnx(model).SerializeToString(), opts, providers=ort_providers(device))
    except Exception as e:  # ORT raises its own exception types for invalid or unsupported graphs
        raise StudioError(f"ONNX Runtime cannot run this model ({first_line(e)})", model.source) from None


def predict(model: Model, x: dict[str, np.ndarray], device: str = "cpu", batch: int = BATCH) -> np.ndarray:
    """The model's first output on every example, as float32 [N, ...]."""
    arrays = list(x.values())
    if model.onnx is not None:
        session = ort_session(model, device)
        inputs = session.get_inputs()
        # many exported files fix the batch size (often to 1)
        fixed = inputs[0].shape[0] if inputs[0].shape and isinstance(inputs[0].shape[0], int) else None
        names = [i.name for i in inputs]
        return _in_batches(arrays, fixed or batch, fixed, lambda part: session.run(None, dict(zip(names, part)))[0]).astype(np.float32)
    fixed = model.fixed_batch
    if fixed:  # a torch.export program traced at one batch size takes only that one
        return _in_batches(arrays, fixed, fixed, lambda part: predict_module(model.module, part, device, fixed))
    return predict_module(model.module, arrays, device, batch)


def _in_batches(arrays: list[np.ndarray], batch: int, fixed: int | None, run) -> np.ndarray:
    """run(one batch of every array) over all examples; with a fixed batch size the last batch is padded
    and the padding's outputs dropped."""
    n = len(arrays[0])
    return np.concatenate([run([_padded(a[start : start + batch], fixed) for a in arrays])[: min(batch, n - start)]
                           for start in range(0, n, batch)])  # fmt: skip


def predict_module(module: torch.nn.Module, arrays: list[np.ndarray], device: str = "cpu", batch: int = BATCH) -> np.ndarray:
    home = home_device(module)
    module = module.to(device)
    was_training = module.training
    module.eval()
    outs = []
    try:
        with torch.no_grad():
            for start in range(0, len(arrays[0]), batch):
                with MODULE_LOCK:
                    out = module(*[torch.from_numpy(a[start : start + batch]).to(device) for a in arrays])
                out = out[0] if isinstance(out, (tuple, list)) else out
                outs.append(out.float().cpu().numpy())
    finally:
        module.train(was_training)
        module.to(home)  # versions live on the CPU: a GPU holds a module only while a job uses it
    return np.concatenate(outs)


def home_device(module: torch.nn.Module) -> torch.device:
    """Where a module's tensors are (the CPU for one without any)."""
    first = next(module.parameters(), None)
    first = first if first is not None else next(module.buffers(), None)
    return first.device if first is not None else torch.device("cpu")


def _padded(arr: np.ndarray, size: int | None) -> np.ndarray:
    """A last, short batch filled up with zeros to a fixed batch size."""
    if size is None or len(arr) == size:
        return arr
    return np.concatenate([arr, np.zeros((size - len(arr), *arr.shape[1:]), arr.dtype)])
