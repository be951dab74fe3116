"""Data sets: the samples, image folders, .npz, .csv, and unlabeled data (DESIGN.md §4, §6).

Everything becomes one DataSet of float32 arrays held in memory, shaped for the model it feeds.
The split is the samples' one for every source: an example is for testing when index % 5 == 4.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.core.formats import samples
from studio.core.errors import StudioError, first_line

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
LABEL_COLUMNS = ("label", "labels", "target", "class", "y")


@dataclass
class DataSet:
    name: str
    x: dict[str, np.ndarray]  # input name → [N, ...] float32 (one entry for single-input models)
    y: np.ndarray | None  # int64 class labels, or None for unlabeled data
    classes: list[str] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.x.values())))

    @property
    def labeled(self) -> bool:
        return self.y is not None

    def subset(self, mask_or_index) -> DataSet:
        return DataSet(self.name, {k: v[mask_or_index] for k, v in self.x.items()},
                       None if self.y is None else self.y[mask_or_index], self.classes)  # fmt: skip

    def train(self) -> DataSet:
        return self.subset(~samples.split_mask(len(self)))

    def test(self) -> DataSet:
        return self.subset(samples.split_mask(len(self)))

    def shaped_for(self, inputs) -> DataSet:
        """Reshape/rename arrays to the model's inputs (TensorSpecs) where sizes agree."""
        if not inputs:
            return self
        if len(inputs) == 1 and len(self.x) == 1:
            (arr,) = self.x.values()
            return DataSet(self.name, {inputs[0].name: _reshape(arr, inputs[0], self.name)}, self.y, self.classes)
        missing = [s.name for s in inputs if s.name not in self.x]
        if missing:
            raise StudioError(f"has no arrays for the model's inputs {missing}", self.name)
        return DataSet(self.name, {s.name: _reshape(self.x[s.name], s, self.name) for s in inputs}, self.y, self.classes)


def load_data(spec, image_size: tuple[int, int] | None = None, grayscale: bool = False) -> DataSet:
    """spec: 'sample:NAME', a path (folder, .npz, .csv), or {path: …, labels: none}."""
    labeled = True
    if isinstance(spec, dict):
        if "path" not in spec:
            raise StudioError("data: needs a 'path'")
        labeled = str(spec.get("labels", "yes")).lower() not in ("none", "no", "false")
        spec = spec["path"]
    spec = str(spec)
    data = _load(spec, image_size, grayscale)
    if len(data) == 0:
        raise StudioError("holds no examples", spec)
    for arr in data.x.values():
        if not np.isfinite(arr).all():
            raise StudioError("holds NaN or infinite values", spec)
    if not labeled:
        data.y = None
    return data


def _load(spec: str, image_size, grayscale) -> DataSet:
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
        return _image_folder(path, spec, image_size, grayscale)
    if path.suffix.lower() == ".npz":
        return _npz(path, spec)
    if path.suffix.lower() == ".csv":
        return _csv(path, spec)
    raise StudioError("is not a data set: use a folder of images, a .npz or a .csv file", spec)


def _npz(path: Path, spec: str) -> DataSet:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # numpy raises several types for damaged archives
        raise StudioError(f"cannot read the .npz ({first_line(e)})", spec) from None
    y = arrays.pop("y", None)
    if not arrays:
        raise StudioError("has no input arrays (expected 'x', or arrays named after the model's inputs)", spec)
    if "x" in arrays:
        arrays = {"x": arrays["x"]}
    lengths = {len(a) for a in arrays.values()} | ({len(y)} if y is not None else set())
    if len(lengths) != 1:
        raise StudioError(f"arrays have different numbers of examples: {sorted(lengths)}", spec)
    try:
        x = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    except (TypeError, ValueError):
        raise StudioError("input arrays are not numeric", spec) from None
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
        raise StudioError(f"has a value that is not a number ({first_line(e)})", spec) from None
    labels = [r[label_col] for r in body]
    y, classes = _labels(np.array(labels), spec, names=True)
    return DataSet(spec, {"x": table}, y, classes)


def _image_folder(path: Path, spec: str, image_size, grayscale) -> DataSet:
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


def _reshape(arr: np.ndarray, spec, source: str) -> np.ndarray:
    if spec.shape is None:
        return arr
    want = tuple(d if isinstance(d, int) else -1 for d in spec.shape[1:])
    if arr.shape[1:] == want or -1 in want:
        return arr
    if int(np.prod(arr.shape[1:])) != int(np.prod(want)):
        raise StudioError(f"examples of shape {list(arr.shape[1:])} do not fit the model's input {list(want)}", source)
    return arr.reshape((len(arr), *want))
