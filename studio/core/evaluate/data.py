"""Data sets: the samples, image folders, .npz, .csv, text (evaluate.text_data), and unlabeled data
(README: Recipes, Samples).

Everything becomes one DataSet of arrays held in memory, in the dtypes they were stored in (images and
tables as float32), cast and shaped for the model it feeds only where that is safe (evaluate.feeds).
The split is the samples' one for every source: an example is for testing when index % 5 == 4.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.core.errors import StudioError, first_line
from studio.core.evaluate import text_data
from studio.core.evaluate.feeds import cast_for, examples, is_constant
from studio.core.evaluate.text_data import LABEL_COLUMNS
from studio.core.formats import samples
from studio.core.formats.model import batch_axes, is_fixed

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class DataSet:
    name: str
    x: dict[str, np.ndarray]  # input name → [N, ...] as stored; a 0-d array is the same for every example
    y: np.ndarray | None  # int64 class labels, or None for unlabeled data
    classes: list[str] | None = None
    output: str | None = None  # the model output that holds the classes, when the data names it
    description: str = ""  # how it was read, where that is worth saying (text: the columns, the tokens per example)

    def __len__(self) -> int:
        return examples(self.x)

    @property
    def labeled(self) -> bool:
        return self.y is not None

    def subset(self, mask_or_index) -> DataSet:
        return DataSet(self.name, {k: v if is_constant(v) else v[mask_or_index] for k, v in self.x.items()},
                       None if self.y is None else self.y[mask_or_index], self.classes, self.output, self.description)

    def train(self) -> DataSet:
        return self.subset(~samples.split_mask(len(self)))

    def test(self) -> DataSet:
        return self.subset(samples.split_mask(len(self)))

    def example_for(self, inputs, n: int = 2) -> dict[str, np.ndarray]:
        """`n` examples shaped for the model's inputs, to trace or export it on."""
        return self.subset(slice(0, n)).shaped_for(inputs).x

    def shaped_for(self, inputs) -> DataSet:
        """Arrays renamed, reshaped and cast to the model's inputs (TensorSpecs) where that is safe."""
        if not inputs:
            return self
        if len(inputs) == 1 and inputs[0].name not in self.x and (len(self.x) == 1 or "x" in self.x):
            x = {inputs[0].name: self.x["x"] if "x" in self.x else next(iter(self.x.values()))}
        else:
            missing = [s.name for s in inputs if s.name not in self.x]
            if missing:
                raise StudioError(f"has no arrays for the model's inputs {missing}", self.name)
            x = {s.name: self.x[s.name] for s in inputs}
        axes = batch_axes(inputs)
        x = {s.name: cast_for(_reshape(x[s.name], s, axes[s.name], self.name), s, self.name) for s in inputs}
        return DataSet(self.name, x, self.y, self.classes, self.output, self.description)


def labeled_spec(spec) -> bool:
    """Whether a data spec uses its labels: a plain path does; `{labels: none}` (or no, false) does not."""
    return not isinstance(spec, dict) or str(spec.get("labels", "yes")).lower() not in ("none", "no", "false")


def load_data(spec, image_size: tuple[int, int] | None = None, grayscale: bool = False, tokenizer: str | None = None) -> DataSet:
    """spec: 'sample:NAME', a path (folder, .npz, .csv, text), or {path: …, labels: none}. Text is read by
    the tokenizer the spec names ({path, tokenizer: FOLDER, max_length: N}), else by `tokenizer`'s."""
    labeled, output, length = True, None, None
    if isinstance(spec, dict):
        if "path" not in spec:
            raise StudioError("data: needs a 'path'")
        labeled = labeled_spec(spec)
        output = None if spec.get("output") is None else str(spec["output"])
        tokenizer = spec.get("tokenizer") or tokenizer
        length = spec.get("max_length")
        if length is not None and (not isinstance(length, int) or isinstance(length, bool)):
            raise StudioError(f"data.max_length: expected a whole number of tokens, not {length!r}")
        spec = spec["path"]
    spec = str(spec)
    data = _text(Path(spec), spec, tokenizer, length) if text_data.is_text(Path(spec)) else _load(spec, image_size, grayscale, labeled)
    if len(data) == 0:
        raise StudioError("holds no examples", spec)
    for arr in data.x.values():
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise StudioError("holds NaN or infinite values", spec)
    if not labeled:
        data.y = None
    data.output = output
    return data


def _load(spec: str, image_size, grayscale, labeled: bool = True) -> DataSet:
    if spec.startswith(samples.SAMPLE_PREFIX):
        name = spec[len(samples.SAMPLE_PREFIX) :]
        if name not in samples.SAMPLE_DATA:
            raise StudioError("no such sample data set; try: " + ", ".join(f"sample:{n}" for n in samples.SAMPLE_DATA), spec)
        x, y = samples.load_sample_data(name)
        return DataSet(spec, {"input": x}, y, [str(i) for i in range(10)])
    path = Path(spec)
    if not path.exists():
        raise StudioError("no such file or folder", spec)
    if path.is_dir():
        return _image_folder(path, spec, image_size, grayscale, labeled)
    if path.suffix.lower() == ".npz":
        return _npz(path, spec)
    if path.suffix.lower() == ".csv":
        return _csv(path, spec)
    raise StudioError("is not a data set: use a folder of images, a .npz or a .csv file, or text (.txt, .tsv, .jsonl)", spec)


def _text(path: Path, spec: str, tokenizer: str | None, length: int | None) -> DataSet:
    if not path.is_file():
        raise StudioError("no such file", spec)
    x, labels, description = text_data.load_text(path, spec, tokenizer, length)
    y, classes = _labels(np.array(labels), spec, names=True) if labels is not None else (None, None)
    return DataSet(spec, x, y, classes, description=description)


def _npz(path: Path, spec: str) -> DataSet:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # numpy raises several types for damaged archives
        raise StudioError(f"cannot read the .npz ({first_line(e)})", spec) from None
    y = arrays.pop("y", None)
    if not arrays:
        raise StudioError("has no input arrays (expected 'x', or arrays named after the model's inputs)", spec)
    if any(a.dtype.kind not in "biuf" for a in arrays.values()):
        raise StudioError("input arrays are not numeric", spec)
    if all(is_constant(a) for a in arrays.values()):
        raise StudioError("has no examples: every input array is a single value", spec)
    # arrays keep their dtypes (int64 token ids, int32 bytes); only float64 is narrowed, as models take float32
    x = {k: a.astype(np.float32) if a.dtype == np.float64 else a for k, a in arrays.items()}
    lengths = {len(a) for a in x.values() if not is_constant(a)} | ({len(y)} if y is not None else set())
    if len(lengths) != 1:
        raise StudioError(f"arrays have different numbers of examples: {sorted(lengths)}", spec)
    return DataSet(spec, x, _labels(y, spec) if y is not None else None)


def _csv(path: Path, spec: str) -> DataSet:
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise StudioError(f"cannot read the .csv ({first_line(e)})", spec) from None
    if len(rows) < 2:
        raise StudioError("holds no examples (a header row and at least one data row are needed)", spec)
    header = [h.strip().lower() for h in rows[0]]
    label_col = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
    if label_col is None:
        raise StudioError(f"has no label column (one of: {', '.join(LABEL_COLUMNS)}); for unlabeled data use labels: none", spec)
    body = [r for r in rows[1:] if r]
    try:
        table = np.array([[float(v) for i, v in enumerate(r) if i != label_col] for r in body], dtype=np.float32)
    except ValueError as e:
        raise StudioError(f"has a value that is not a number ({first_line(e)}); text needs a column named "
                          f"{' or '.join(text_data.TEXT_COLUMNS[:2])}", spec) from None
    labels = [r[label_col] for r in body]
    y, classes = _labels(np.array(labels), spec, names=True)
    return DataSet(spec, {"x": table}, y, classes)


def _image_folder(path: Path, spec: str, image_size, grayscale, labeled: bool = True) -> DataSet:
    from PIL import Image, UnidentifiedImageError

    class_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    if not class_dirs:
        raise StudioError("an image folder needs one subfolder per class", spec)
    images, labels = [], []
    for label, d in enumerate(class_dirs):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(f) as im:
                    im = im.convert("L" if grayscale else "RGB")
                    if image_size is None:
                        image_size = im.size
                    images.append(np.asarray(im.resize(image_size), dtype=np.float32) / 255.0)
            except (UnidentifiedImageError, OSError) as e:
                raise StudioError(f"cannot read image {f.name} ({first_line(e)})", spec) from None
            labels.append(label)
    if not images:
        raise StudioError("holds no images (.png, .jpg, …) in its class subfolders", spec)
    if labeled and len(class_dirs) < 2:
        raise StudioError(f"has one class folder ({class_dirs[0].name}): labelled data needs a subfolder per class, "
                          "two or more; for unlabeled images use labels: none", spec)
    x = np.stack(images)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # N, C, H, W
    order = np.random.default_rng(0).permutation(len(x))  # classes interleave, so the split is fair
    return DataSet(spec, {"x": x[order]}, np.array(labels, np.int64)[order], [d.name for d in class_dirs])


def _labels(y: np.ndarray, spec: str, names: bool = False):
    if names:
        classes = sorted(set(y.tolist()), key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v))
        index = {c: i for i, c in enumerate(classes)}
        return np.array([index[v] for v in y.tolist()], np.int64), classes
    if y.ndim != 1 or y.dtype.kind not in "iub":
        raise StudioError("labels 'y' must be one whole number per example", spec)
    return y.astype(np.int64)


def _reshape(arr: np.ndarray, spec, batch_axis: int, source: str) -> np.ndarray:
    if spec.shape is None or is_constant(arr):
        return arr
    want = tuple(d if is_fixed(d) else -1 for k, d in enumerate(spec.shape) if k != batch_axis)
    if arr.shape[1:] == want or -1 in want:
        return arr
    if int(np.prod(arr.shape[1:])) != int(np.prod(want)):
        raise StudioError(f"examples of shape {list(arr.shape[1:])} do not fit the model's input {list(want)}", source)
    return arr.reshape((len(arr), *want))
