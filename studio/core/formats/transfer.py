"""How Models travel from a forked job back to the window (studio.core.process.isolated): a torch.export
program's module as its weights, an ONNX model's large weights apart from its proto, as raw bytes."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import onnx
from onnx import TensorProto, helper

from studio.core.formats.load_onnx import all_tensors, external_key, set_external_key
from studio.core.formats.load_torch import program_module
from studio.core.formats.model import Format, Model
from studio.core.formats.onnx_to_torch import importable
from studio.core.process.isolated import register_reducer


@register_reducer
def reduce_model(obj):
    if isinstance(obj, Model) and obj.format is Format.EXPORTED_PROGRAM and obj.module is not None:
        return _exported_model, (replace(obj, module=None), obj.module.state_dict())
    if isinstance(obj, Model) and obj.onnx is not None:
        return _onnx_model, _onnx_apart(obj)
    if isinstance(obj, Model) and obj.format is Format.CONVERTED and obj.module is not None:
        return _converted_model, (replace(obj, module=None), pickle.dumps(obj.module))
    return None


def _converted_model(model: Model, module: bytes) -> Model:
    """Unpickling the module imports onnx2torch's classes: through onnx_to_torch's import, which stands in
    for a torchvision that does not import."""
    importable()
    model.module = pickle.loads(module)
    return model


def _exported_model(model: Model, weights: dict) -> Model:
    model.module = program_module(model.program)
    model.module.load_state_dict(weights)
    return model


APART_BYTES = 1 << 20  # ONNX weights at least this big travel beside the proto


def _onnx_apart(model: Model) -> tuple:
    """An ONNX model as its proto without its large weights (kept apart as in Model.external, and sent
    as raw bytes): parsing a proto of hundreds of MB, and reading weights out of it, hold Python's
    lock for hundreds of ms in the window. This is the child's last use of the model, so its own proto
    gives its weights up instead of being copied."""
    proto = model.onnx
    # only the weights this proto refers to: a version made with dataclasses.replace shares its source's dict
    used = {external_key(t) for t in all_tensors(proto.graph) if t.data_location == TensorProto.EXTERNAL}
    external = {key: data for key, data in model.external.items() if key in used}
    for i, tensor in enumerate(all_tensors(proto.graph)):
        if tensor.data_location != TensorProto.DEFAULT or not tensor.HasField("raw_data"):
            continue
        if np.prod(tensor.dims, dtype=np.int64) * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize < APART_BYTES:
            continue
        data = tensor.raw_data
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        key = (TRANSFER, i, len(data))
        set_external_key(tensor, key)
        external[key] = data
    # without its own `external` too: pickled with the model, its weights would travel a second time, in-band
    return replace(model, onnx=None, external={}), proto.SerializeToString(), {k: pickle.PickleBuffer(v) for k, v in external.items()}


TRANSFER = "studio:transfer"  # the location of weights apart after a transfer: not a file


def _onnx_model(model: Model, structure: bytes, external: dict) -> Model:
    proto = onnx.ModelProto()
    proto.ParseFromString(structure)
    model.onnx, model.external = proto, external
    return model
