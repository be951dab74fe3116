"""PyTorch files. Only a whole pickled module runs code on load, and only with the user's trust."""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from studio.core.errors import StudioError, TrustRequired, first_line
from studio.core.formats import model as model_module
from studio.core.formats import torchscript_apart
from studio.core.formats.model import STATE_DICT_NOTE, Format, Model, TensorSpec
from studio.core.process.locks import MODULE_LOCK

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "weights")


def load_pickle(path: Path, source: str, trust: bool) -> Model:
    """torch.save output: a bare state_dict loads safely; a whole module needs trust."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        needs = _needed_global(str(e))
        if not trust:
            raise TrustRequired(
                f"a pickled Python object ({needs}); loading it runs code stored in the file. "
                "Load it only if you trust where it came from (--trust)",
                source,
            ) from None
        obj = _load_trusted(path, source)
    except Exception as e:
        raise StudioError(f"a damaged PyTorch file ({first_line(e)})", source) from None
    if isinstance(obj, torch.nn.Module):
        return Model(source, Format.PICKLED_MODULE, module=obj.eval(), size_bytes=path.stat().st_size)
    weights = _state_dict_of(obj)
    if weights is None:
        raise StudioError(f"holds a {type(obj).__name__}, not a model or a state_dict", source)
    return _state_dict_model(weights, path, source)


def load_safetensors(path: Path, source: str) -> Model:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise StudioError(f"a damaged safetensors file ({first_line(e)})", source) from None
    return _state_dict_model(weights, path, source)


def load_torchscript(path: Path, source: str, responsive: bool = False) -> Model:
    module = None
    if responsive and path.stat().st_size > model_module.CHILD_READ_BYTES:
        module = torchscript_apart.load_apart(path)
    if module is None:
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:  # TorchScript raises RuntimeError and friends for bad archives
            raise StudioError(f"a damaged TorchScript archive ({first_line(e)})", source) from None
    # plain numbers in the signature (`sr: int`) keep their type; tensors are taken as float32
    inputs = [TensorSpec(a.name, None, SCRIPT_TYPES.get(str(a.type), "float32")) for a in module.forward.schema.arguments[1:]]
    return Model(source, Format.TORCHSCRIPT, inputs=inputs, module=module.eval(), size_bytes=path.stat().st_size)


def load_exported(path: Path, source: str) -> Model:
    try:
        program = torch.export.load(str(path))
    except Exception as e:  # the .pt2 reader raises many types for damaged archives
        raise StudioError(f"a damaged torch.export archive ({first_line(e)})", source) from None
    nodes = {n.name: n for n in program.graph.nodes}
    inputs = [_fake_spec(name, nodes.get(name)) for name in program.graph_signature.user_inputs]
    outputs = [_fake_spec(name, nodes.get(name)) for name in program.graph_signature.user_outputs]
    return Model(
        source,
        Format.EXPORTED_PROGRAM,
        inputs=inputs,
        outputs=outputs,
        module=program_module(program),
        program=program,
        size_bytes=path.stat().st_size,
    )


def program_module(program) -> torch.nn.Module:
    """The program as a module that can be measured and trained: torch.export's own refuses eval()
    and train() (PyTorch 2.13 does). Its graph stays as exported, so the switch changes no operation."""
    module = program.module()
    for name in ("train", "eval"):
        module.__dict__.pop(name, None)
    return module


SCRIPT_TYPES = {"int": "int64", "float": "float64", "bool": "bool"}


def infer_outputs(model: Model) -> list[TensorSpec]:
    """Run zeros of the known input shapes through the module once to learn its output shapes."""
    args = [torch.zeros(tuple(d if isinstance(d, int) else 1 for d in s.shape)) if s.shape else 0 for s in model.inputs]
    try:
        with torch.no_grad(), MODULE_LOCK:
            out = model.module(*args)
    except Exception as e:  # the model's own code: any error means the shape given does not fit
        model.notes.append(f"the model does not run on input shape {[s.shape for s in model.inputs]}: {first_line(e)}")
        return []
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [TensorSpec(f"output{i}" if len(outs) > 1 else "output", tuple(o.shape)) for i, o in enumerate(outs) if torch.is_tensor(o)]


def _load_trusted(path: Path, source: str):
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError, ImportError) as e:
        raise StudioError(f"needs the Python class {_missing_class(e)}, which cannot be imported here", source) from None
    except Exception as e:  # unpickling arbitrary objects can raise anything
        raise StudioError(f"could not unpickle the file ({first_line(e)})", source) from None


def _state_dict_of(obj) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, Mapping):
        for key in CHECKPOINT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and _all_tensors(inner):
                return dict(inner)
        if obj and _all_tensors(obj):
            return dict(obj)
    return None


def _all_tensors(mapping: Mapping) -> bool:
    return bool(mapping) and all(isinstance(k, str) and torch.is_tensor(v) for k, v in mapping.items())


def _state_dict_model(weights: dict, path: Path, source: str) -> Model:
    return Model(
        source,
        Format.STATE_DICT,
        state_dict=weights,
        size_bytes=path.stat().st_size,
        notes=[STATE_DICT_NOTE],
    )


def _fake_spec(name: str, node) -> TensorSpec:
    val = node.meta.get("val") if node is not None else None
    if val is None or not hasattr(val, "shape"):
        return TensorSpec(name, None)
    shape = tuple(int(d) if isinstance(d, int) or str(d).isdigit() else str(d) for d in val.shape)
    return TensorSpec(name, shape, str(val.dtype).removeprefix("torch."))


def _needed_global(message: str) -> str:
    m = re.search(r"GLOBAL ([\w.]+)", message)
    return f"it needs {m.group(1)}" if m else "it is not weights only"


def _missing_class(e: Exception) -> str:
    m = re.search(r"Can't get attribute '([\w.]+)' on <module '([\w.]+)'", str(e))
    if m:
        return f"{m.group(2)}.{m.group(1)}"
    m = re.search(r"No module named '([\w.]+)'", str(e))
    return f"from module {m.group(1)}" if m else first_line(e)
