"""A corpus of broken and hostile inputs, generated fresh for the tests: model files, data sets,
recipes and project folders. Each entry names what a user must be told, as a regular expression
matched against the one-line error (models that open anyway say what is wrong in a note)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from studio.core.formats.samples import build_sample


def _mlp_onnx(nodes=None, inits=None, opset=17, inputs=None) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        nodes or [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "g",
        inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], inits if inits is not None else [w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _external_weight(**where: str) -> onnx.ModelProto:
    """The MLP with its weight moved to external data described by `where` (location, offset, length)."""
    proto = _mlp_onnx()
    w = proto.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in where.items():
        w.external_data.add(key=key, value=value)
    return proto


def _save(proto: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(proto.SerializeToString())
    return path


# Files no reader accepts: each is refused in one line naming the file.
REFUSED = {
    "empty.onnx": "empty",
    "random.bin": "not a model this studio reads",
    "text.onnx": "not a model this studio reads",
    "truncated.onnx": "not a model this studio reads",
    "truncated.pt": "truncated or damaged zip",
    "foreign.zip": "not a PyTorch archive|zip",
    "folder": "is a folder",
    "missing.onnx": "no such file",
    "escape/outside.onnx": "outside the model's folder",
    "overflow.onnx": "claims 1,208,925,819,614,629,174,706,176 values but stores",
    "short_data.onnx": "shorter than",
}

# Files that open, with what is wrong in a note; operations that run them fail in one line.
OPEN_WITH_NOTE = {
    "dangling.onnx": "'ghost' of node 'add' comes from nothing",
    "custom_op.onnx": "com.acme",
    "opset_too_new.onnx": "opset 99 is newer",
    "nan_weights.onnx": "2 weights are NaN or infinite",
}


def bad_models(folder: Path) -> dict[str, Path]:
    """Write every file of REFUSED and OPEN_WITH_NOTE into `folder`; returns name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in [*REFUSED, *OPEN_WITH_NOTE]}
    paths["empty.onnx"].write_bytes(b"")
    paths["random.bin"].write_bytes(np.random.default_rng(1).bytes(4096))
    paths["text.onnx"].write_text("this is not a model\n" * 20)
    good = _mlp_onnx().SerializeToString()
    paths["truncated.onnx"].write_bytes(good[: len(good) // 2])
    scripted = folder / "scripted.pt"
    torch.jit.save(torch.jit.script(build_sample("digits-cnn")), str(scripted))
    paths["truncated.pt"].write_bytes(scripted.read_bytes()[:5000])
    scripted.unlink()
    with zipfile.ZipFile(paths["foreign.zip"], "w") as z:
        z.writestr("readme.txt", "hello")
    paths["folder"].mkdir(exist_ok=True)
    (folder / "escape").mkdir(exist_ok=True)
    (folder / "secret.bin").write_bytes(np.zeros(12, np.float32).tobytes())
    _save(_external_weight(location="../secret.bin"), paths["escape/outside.onnx"])
    huge = _mlp_onnx()
    huge.graph.initializer[0].dims[:] = [2**40, 2**40]  # 2^80 values claimed, 48 bytes stored
    _save(huge, paths["overflow.onnx"])
    (folder / "short_data.bin").write_bytes(b"\0" * 20)
    _save(_external_weight(location="short_data.bin", offset="0", length="48"), paths["short_data.onnx"])

    _save(_mlp_onnx(nodes=[helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
                           helper.make_node("Add", ["h", "ghost"], ["y"], name="add")]), paths["dangling.onnx"])
    custom = _mlp_onnx(nodes=[helper.make_node("FancyMatMul", ["x", "w"], ["y"], name="fc", domain="com.acme")])
    custom.opset_import.append(helper.make_opsetid("com.acme", 1))
    _save(custom, paths["custom_op.onnx"])
    _save(_mlp_onnx(opset=99), paths["opset_too_new.onnx"])
    nan = np.ones((4, 3), np.float32)
    nan[0, 0], nan[1, 1] = np.nan, np.inf
    _save(_mlp_onnx(inits=[numpy_helper.from_array(nan, "w")]), paths["nan_weights.onnx"])
    return paths


# Data sets (for --data, the toolbar's Data choice): each refused in one line.
BAD_DATA = {
    "empty.npz": "no examples",
    "broken.npz": "cannot read",
    "nan.npz": "NaN",
    "no_label.csv": "label",
    "empty_folder": "subfolder",
    "broken_images": "cannot read|not an image",
}


def bad_data(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in BAD_DATA}
    np.savez(paths["empty.npz"], x=np.zeros((0, 4), np.float32), y=np.zeros(0, int))
    paths["broken.npz"].write_bytes(b"PK\x03\x04garbage")
    np.savez(paths["nan.npz"], x=np.full((2, 4), np.nan, np.float32), y=np.zeros(2, int))
    paths["no_label.csv"].write_text("a,b,c,d\n1,2,3,4\n5,6,7,8\n")
    paths["empty_folder"].mkdir(exist_ok=True)
    (paths["broken_images"] / "cats").mkdir(parents=True, exist_ok=True)
    (paths["broken_images"] / "cats" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    return paths


# Recipes: unknown and wrongly typed keys, each refused in one line naming the key.
BAD_RECIPES = {
    "unknown_key": ({"model": "sample:lenet-5", "steps": [{"prune": {"sparsity": 0.5, "sparsty": 0.5}}]}, "sparsty"),
    "wrong_type": ({"model": "sample:lenet-5", "steps": [{"prune": {"sparsity": "lots"}}]}, "sparsity"),
    "unknown_step": ({"model": "sample:lenet-5", "steps": [{"shrink": {}}]}, "shrink"),
    "no_steps": ({"model": "sample:lenet-5", "steps": "prune"}, "steps"),
}


def bad_recipes(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (doc, _) in BAD_RECIPES.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    return paths
