"""Projects: a folder with project.json (versions, data choice, chart history) and one weights file per
version — safetensors, TorchScript, .pt2 or ONNX; never a pickle. Versions are immutable, so each
weights file is written once; project.json is replaced atomically after every operation (autosave),
so a crash loses at most the operation that was running."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
import torch

from studio.core.deliver.export import atomic_write
from studio.core.errors import StudioError, first_line
from studio.core.formats.examples import example_inputs
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import all_tensors, external_key, set_external_key
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.formats.onnx_to_torch import onnx_to_torch
from studio.core.formats.rebuild import fit_to_state_dict
from studio.core.process.locks import INLINE_LOCK, MODULE_LOCK
from studio.core.project.recipe import StepResult
from studio.core.project.versions import History, Version

PROJECT_FILE = "project.json"
FORMAT_VERSION = 1
SUFFIX = {Format.SAMPLE: ".safetensors", Format.PICKLED_MODULE: ".safetensors", Format.STATE_DICT: ".safetensors", Format.CONVERTED: ".safetensors",
          Format.HF_FOLDER: ".safetensors",
          Format.TORCHSCRIPT: ".pt", Format.EXPORTED_PROGRAM: ".pt2", Format.ONNX: ".onnx"}


@dataclass
class Project:
    history: History
    data: str | dict | None = None
    device: str = "cpu"
    current: int | None = None
    charts: dict = field(default_factory=dict)  # chart history, e.g. {"v3": {"accuracy": [...]}}
    profiles: dict = field(default_factory=dict)  # time profiles, e.g. {"v3": {"latency_ms": …}}


def save_project(folder: Path, project: Project) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = [_save_version(folder, v) for v in project.history.versions.values()]
    doc = {"format_version": FORMAT_VERSION, "data": project.data, "device": project.device,
           "current": project.current, "charts": project.charts, "profiles": project.profiles, "next_id": project.history.next_id,
           "versions": entries}
    atomic_write(folder / PROJECT_FILE, json.dumps(doc, indent=1, default=_json_default).encode())


def open_project(folder: Path, trust: bool = False) -> Project:
    folder = Path(folder)
    path = folder / PROJECT_FILE
    if not path.is_file():
        raise StudioError(f"not a studio project (no {PROJECT_FILE})", str(folder))
    try:
        doc = json.loads(path.read_text())
        versions = doc["versions"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise StudioError(f"{PROJECT_FILE} is damaged ({first_line(e)})", str(folder)) from None
    history = History(next_id=doc.get("next_id", 0) if isinstance(doc.get("next_id"), int) else 0)
    for entry in versions:
        try:
            model = _load_version(folder, entry, trust)
            logits = _member(folder, entry["logits"]) if entry.get("logits") else None
            result = StepResult(entry["op"], entry["options"], entry["step_label"], model, entry["metrics"],
                                _read_outputs(logits) if logits else None)
            history.versions[entry["id"]] = Version(entry["id"], entry["label"], result, entry["parent"])
        except StudioError:
            raise
        except (KeyError, TypeError, ValueError, OSError) as e:
            raise StudioError(f"version {entry.get('id', '?')} cannot be read ({first_line(e)})", str(folder)) from None
    profiles = doc.get("profiles") if isinstance(doc.get("profiles"), dict) else {}
    return Project(history, doc.get("data"), doc.get("device", "cpu"), doc.get("current"), doc.get("charts", {}), profiles)


def _read_outputs(path: Path) -> list[np.ndarray]:
    """A version's test outputs: every output in an .npz (arr_0 the class output), or, in projects
    saved before several outputs were kept, the one output in an .npy."""
    if path.suffix == ".npy":
        return [np.load(path)]
    with np.load(path) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


def _save_version(folder: Path, v: Version) -> dict:
    model = v.model
    name = f"v{v.id}{SUFFIX[model.format]}"
    if not (folder / name).exists():
        _write_weights(folder / name, model)
    logits = None
    if v.result.logits is not None:
        logits = f"v{v.id}.outputs.npz"
        if not (folder / logits).exists():
            with _staged(folder / logits) as tmp, tmp.open("wb") as f:
                np.savez(f, *v.result.logits)
    return {"id": v.id, "parent": v.parent, "label": v.label, "op": v.result.op, "options": v.result.options,
            "step_label": v.result.label, "metrics": v.metrics, "format": model.format.value, "source": model.source,
            "inputs": [s.to_json() for s in model.inputs], "weights": name, "logits": logits}


@contextlib.contextmanager
def _staged(path: Path):
    """A temporary name beside `path` to write to; it becomes `path` only once written whole, and is
    removed if writing fails (a full disk): a member that exists is always complete."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_weights(path: Path, model: Model) -> None:
    if model.format is Format.ONNX:
        _write_onnx(path, model)
        return
    with _staged(path) as tmp:
        if model.format is Format.TORCHSCRIPT:
            torch.jit.save(model.module, str(tmp))
        elif model.format is Format.EXPORTED_PROGRAM:
            with MODULE_LOCK:
                program = torch.export.export(model.module, example_inputs(model))
            torch.export.save(program, str(tmp))
        else:
            from safetensors.torch import save_file

            state = model.state_dict if model.module is None else model.module.state_dict()
            save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))


def _write_onnx(path: Path, model: Model) -> None:
    """An ONNX version; weights it keeps apart (a large model's) go to `path.data` beside it, written from
    their buffers: file writes let go of Python's lock, where putting them into the proto and serialising
    it holds the lock for the whole model (a window autosaves on a thread of its own)."""
    with INLINE_LOCK:  # another thread may be moving them into the proto
        structure, external = onnx.ModelProto(), dict(model.external)
        structure.CopyFrom(model.onnx)
    if external:
        data, offset = path.with_name(path.name + ".data"), 0
        with _staged(data) as tmp, tmp.open("wb") as f:
            for tensor in all_tensors(structure.graph):
                if tensor.data_location == onnx.TensorProto.EXTERNAL:
                    buffer = external[external_key(tensor)]
                    f.write(buffer)
                    set_external_key(tensor, (data.name, offset, len(buffer)))
                    offset += len(buffer)
    with _staged(path) as tmp:
        tmp.write_bytes(structure.SerializeToString())


def _load_version(folder: Path, entry: dict, trust: bool) -> Model:
    fmt = Format(entry["format"])
    weights = _member(folder, entry["weights"])
    if fmt in (Format.ONNX, Format.TORCHSCRIPT, Format.EXPORTED_PROGRAM, Format.STATE_DICT):
        model = load_model(str(weights))
        if fmt is Format.TORCHSCRIPT:
            model.inputs = [TensorSpec(s["name"], tuple(s["shape"]) if s["shape"] else None, s["dtype"]) for s in entry["inputs"]]
        return replace(model, source=entry["source"])
    from safetensors.torch import load_file

    base = load_model(entry["source"], trust=trust)  # the architecture: a sample, or the trusted original file
    if fmt is Format.CONVERTED:  # the ONNX original converted again: the same module the weights came from
        base = onnx_to_torch(base)
    module = fit_to_state_dict(base.module, load_file(str(weights)))
    return replace(base, module=module.eval())


def _member(folder: Path, name: str) -> Path:
    """A file of the project, which may not lie outside its folder."""
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise StudioError(f"project member {name!r} is missing or outside the project folder", str(folder))
    return path


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
