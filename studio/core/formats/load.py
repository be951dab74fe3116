"""One entry point for every model format: decides by content, not only by extension."""

from __future__ import annotations

import zipfile
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.formats import load_hf, load_onnx, load_torch, samples
from studio.core.formats.model import Format, Model, TensorSpec

PICKLE_MAGIC = 0x80


def parse_input_shape(text: str) -> list[tuple[int, ...]]:
    """'1,3,224,224' → [(1, 3, 224, 224)]; several inputs separated by ';', `()` for a single value
    (a sample rate: '1,512;()')."""
    try:
        shapes = [() if part == "()" else tuple(int(d) for d in part.split(","))
                  for part in text.replace(" ", "").split(";") if part]
    except ValueError:
        raise StudioError(f"--input-shape {text!r} is not a list of whole numbers like 1,3,224,224") from None
    if not shapes or any(s and min(s) < 1 for s in shapes) or all(not s for s in shapes):
        raise StudioError(f"--input-shape {text!r} needs positive sizes like 1,3,224,224")
    return shapes


def load_model(source: str, *, trust: bool = False, input_shape: str | None = None, responsive: bool = False) -> Model:
    """Load a model file or `sample:NAME`. Raises StudioError (one line) on any bad input.
    responsive: other threads (a window's) keep running while a large TorchScript archive or ONNX
    file loads, at the price of a child process (see torchscript_apart, load_onnx)."""
    shapes = parse_input_shape(input_shape) if input_shape else None
    if source.startswith(samples.SAMPLE_PREFIX):
        model = _load_sample(source)
    else:
        model = _load_file(Path(source), source, trust, responsive)
    if shapes:
        _apply_input_shapes(model, shapes)
    if model.module is not None and model.inputs and not model.outputs and model.input_shapes_known:
        model.outputs = load_torch.infer_outputs(model)
    if model.module is not None and not model.input_shapes_known and model.format is not Format.STATE_DICT:
        model.notes.append("input shape unknown: give it with --input-shape (e.g. 1,3,224,224) for shapes")
    return model


def _load_sample(source: str) -> Model:
    name = source[len(samples.SAMPLE_PREFIX) :]
    if name in samples.SAMPLE_DATA:
        raise StudioError("is a sample data set, not a model; models: " + ", ".join(samples.SAMPLE_MODELS), source)
    if name not in samples.SAMPLE_MODELS:
        raise StudioError("no such sample; models: " + ", ".join(samples.SAMPLE_MODELS), source)
    spec = samples.SAMPLE_MODELS[name]
    return Model(
        source=source,
        format=Format.SAMPLE,
        inputs=[TensorSpec("input", ("batch", *spec.input_shape))],
        outputs=[TensorSpec("logits", ("batch", 10))],
        module=samples.build_sample(name),
        size_bytes=samples.weights_path(name).stat().st_size,
        notes=[f"{spec.description}; data: sample:{spec.data}"],
    )


def _load_file(path: Path, source: str, trust: bool, responsive: bool) -> Model:
    if not path.exists():
        raise StudioError("no such file", source)
    if path.is_dir():
        if load_hf.is_hf_folder(path):
            return load_hf.load_hf(path, source, trust)
        raise StudioError("is a folder, not a model file (a Hugging Face model folder has a config.json)", source)
    size = path.stat().st_size
    if size == 0:
        raise StudioError("the file is empty", source)
    with path.open("rb") as f:
        head = f.read(16)

    if zipfile.is_zipfile(path):
        kind = _zip_kind(path, source)
        if kind == "pt2":
            return load_torch.load_exported(path, source)
        if kind == "torchscript":
            return load_torch.load_torchscript(path, source, responsive)
        return load_torch.load_pickle(path, source, trust)
    if head.startswith(b"PK\x03\x04"):
        raise StudioError("a truncated or damaged zip archive (PyTorch files are zip archives)", source)
    if head[0] == PICKLE_MAGIC:
        return load_torch.load_pickle(path, source, trust)
    if _looks_like_safetensors(head, size):
        return load_torch.load_safetensors(path, source)
    return load_onnx.load_onnx(path, source, responsive)


def _zip_kind(path: Path, source: str) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise StudioError(f"a damaged zip archive ({e})", source) from None
    if any(n.endswith("archive_format") or "/models/" in n and n.endswith(".json") for n in names):
        return "pt2"
    if any("/code/" in n for n in names) or any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("data.pkl") for n in names):
        return "pickle"
    raise StudioError("a zip archive that holds no PyTorch model (no data.pkl, code/ or .pt2 layout)", source)


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    header_len = int.from_bytes(head[:8], "little")
    return 2 <= header_len <= size - 8 and head[8:9] == b"{"


def _apply_input_shapes(model: Model, shapes: list[tuple[int, ...]]) -> None:
    if model.inputs and len(shapes) != len(model.inputs):
        raise StudioError(f"--input-shape gives {len(shapes)} input(s) but the model has {len(model.inputs)}", model.source)
    names = [s.name for s in model.inputs] or [f"input{i}" if len(shapes) > 1 else "input" for i in range(len(shapes))]
    dtypes = [s.dtype for s in model.inputs] or ["float32"] * len(shapes)
    model.inputs = [TensorSpec(n, tuple(s), d) for n, s, d in zip(names, shapes, dtypes)]
