"""Text data for Hugging Face models: a .txt (one example per line, no labels), or a .csv, .tsv or .jsonl
with a text column, an optional label column, or two text columns for pairs. The model folder's tokenizer
turns it into int64 arrays named as the model's inputs, padded to one length chosen from the data: the
longest example, rounded up to a multiple of 8, at most what the model takes (or the spec's max_length)."""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.core.errors import StudioError, first_line
from studio.core.formats.load_hf import TEXT_INPUTS, has_tokenizer, max_length, offline_transformers, remote_code

TEXT_SUFFIXES = (".txt", ".tsv", ".jsonl")
LABEL_COLUMNS = ("label", "labels", "target", "class", "y")
TEXT_COLUMNS = ("text", "sentence", "sentence1", "question", "premise", "query", "review", "content")
PAIR_COLUMNS = ("text_pair", "sentence2", "hypothesis", "context", "passage", "answer")
ROUND_TO = 8
NO_TOKENIZER = ("is text: the tokenizer of a Hugging Face model folder turns it into the model's inputs; open such a folder "
                "first, or name one with data: {path: …, tokenizer: FOLDER}")


@dataclass
class Texts:
    first: list[str]
    second: list[str] | None  # the pairs' second texts
    labels: list[str] | None
    columns: str  # where the texts came from, in words


def is_text(path: Path) -> bool:
    """A .txt, .tsv or .jsonl, or a .csv whose header names a text column (other .csv files are tables of numbers)."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return True
    if suffix != ".csv":
        return False
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            header = next(csv.reader(f), [])
    except (OSError, csv.Error):
        return False
    return any(h.strip().lower() in TEXT_COLUMNS + PAIR_COLUMNS for h in header)


def load_text(path: Path, spec: str, tokenizer: str | None,
              length: int | None = None) -> tuple[dict[str, np.ndarray], list[str] | None, str]:
    """The tokenized arrays, the label of each example (or None) and a sentence describing them."""
    texts = read_texts(path, spec)
    if not tokenizer:
        raise StudioError(NO_TOKENIZER, spec)
    x, said = tokenize(texts, Path(tokenizer), length, spec)
    return x, texts.labels, f"{len(texts.first):,} {'text pairs' if texts.second else 'texts'} ({texts.columns}), {said}"


def read_texts(path: Path, spec: str) -> Texts:
    text = _decode(path, spec)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        lines = text.rstrip("\r\n").splitlines()
        if not lines:
            raise StudioError("holds no examples (one per line)", spec)
        _no_empty(lines, spec, "line", "a .txt holds one example per line")
        return Texts(lines, None, None, "one per line")
    if suffix == ".jsonl":
        header, rows = _jsonl(text, spec)
    else:
        try:
            rows = list(csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
        except csv.Error as e:
            raise StudioError(f"cannot read the {suffix} ({first_line(e)})", spec) from None
        if not rows:
            raise StudioError("holds no examples (a header row and at least one data row are needed)", spec)
        header, rows = rows[0], rows[1:]
        for i, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                raise StudioError(f"row {i} is empty", spec)
            if len(row) != len(header):
                raise StudioError(f"row {i} has {len(row)} cells but the header {len(header)}", spec)
    if not rows:
        raise StudioError("holds no examples (a header row and at least one data row are needed)", spec)
    first, second, label = _columns(header, spec)
    take = lambda col: [row[col] for row in rows]  # noqa: E731
    texts = Texts(take(first), None if second is None else take(second), None if label is None else [str(v).strip() for v in take(label)],
                  f"column {header[first]!r}" + (f" paired with {header[second]!r}" if second is not None else "")
                  + (f", labels in {header[label]!r}" if label is not None else ", no labels"))
    _no_empty(texts.first, spec, "row", f"column {header[first]!r}", start=2)
    if texts.second is not None:
        _no_empty(texts.second, spec, "row", f"column {header[second]!r}", start=2)
    return texts


def tokenize(texts: Texts, folder: Path, length: int | None, spec: str) -> tuple[dict[str, np.ndarray], str]:
    tokenizer = _tokenizer(str(folder), spec)
    limit = max_length(folder)
    try:
        ids = tokenizer(texts.first, texts.second, truncation=False)["input_ids"]
        longest = max(len(i) for i in ids)
        if length is None:
            length = min(limit, math.ceil(longest / ROUND_TO) * ROUND_TO)
        elif not 1 < length <= limit:
            raise StudioError(f"max_length {length} is not between 2 and {limit}, the most the model takes", spec)
        enc = tokenizer(texts.first, texts.second, padding="max_length", truncation=True, max_length=length)
    except StudioError:
        raise
    except Exception as e:  # tokenizers raise several types on inputs they refuse
        raise StudioError(f"the tokenizer of {folder.name} refuses it ({first_line(e)})", spec) from None
    x = {name: np.asarray(values, dtype=np.int64) for name, values in enc.items() if name in TEXT_INPUTS}
    cut = sum(len(i) > length for i in ids)
    said = (f"{length} tokens each (the longest has {longest}" + (f"; {cut:,} cut to {length}" if cut else "")
            + f"), by the tokenizer in {folder.parent.name}/{folder.name}")
    return x, said


@functools.lru_cache(maxsize=4)
def _tokenizer(folder: str, spec: str):
    path = Path(folder)
    if not path.is_dir() or not has_tokenizer(path):
        raise StudioError(f"{folder} has no tokenizer files (tokenizer.json, vocab.txt, …) to read text with", spec)
    if remote_code(path, {}):  # its tokenizer_config's auto_map; transformers is told not to run any other
        raise StudioError(f"the tokenizer of {folder} runs code shipped in the folder: it is not run to read data", spec)
    transformers = offline_transformers(folder)
    try:
        return transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except Exception as e:  # transformers raises many types for folders it cannot read
        raise StudioError(f"cannot read the tokenizer of {folder} ({first_line(e)})", spec) from None


def _decode(path: Path, spec: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise StudioError(f"cannot read the file ({first_line(e)})", spec) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise StudioError(f"is not UTF-8 text: byte 0x{raw[e.start]:02x} on line {line} cannot be read (save the file as UTF-8)",
                          spec) from None
    if "\x00" in text:
        raise StudioError("holds NUL bytes: not a text file", spec)
    return text


def _jsonl(text: str, spec: str) -> tuple[list[str], list[list]]:
    header, rows = None, []
    for i, line in enumerate(text.rstrip("\r\n").splitlines(), start=1):
        if not line.strip():
            raise StudioError(f"line {i} is empty", spec)
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise StudioError(f"line {i} is not JSON ({first_line(e)})", spec) from None
        if not isinstance(obj, dict):
            raise StudioError(f"line {i} is not a JSON object like {{\"text\": …, \"label\": …}}", spec)
        header = header or list(obj)
        missing = [k for k in header if k not in obj]
        if missing:
            raise StudioError(f"line {i} has no {missing[0]!r}", spec)
        rows.append([obj[k] if isinstance(obj[k], str) else json.dumps(obj[k]) for k in header])
    return header or [], rows


def _columns(header: list[str], spec: str) -> tuple[int, int | None, int | None]:
    """(first text column, second text column or None, label column or None)."""
    names = [h.strip().lower() for h in header]
    label = next((names.index(c) for c in LABEL_COLUMNS if c in names), None)
    first = next((names.index(c) for c in TEXT_COLUMNS if c in names), None)
    second = next((names.index(c) for c in PAIR_COLUMNS if c in names), None)
    rest = [i for i in range(len(names)) if i != label]
    if first is None and len(rest) in (1, 2):
        first, second = rest[0], (rest[1] if len(rest) == 2 else None)
    if first is None:
        raise StudioError(f"has no text column: name it one of {', '.join(TEXT_COLUMNS[:3])} "
                          f"(columns: {', '.join(header) or 'none'})", spec)
    return first, second, label


def _no_empty(values: list[str], spec: str, unit: str, where: str, start: int = 1) -> None:
    empty = next((i for i, v in enumerate(values, start=start) if not v.strip()), None)
    if empty is not None:
        raise StudioError(f"{unit} {empty} is empty ({where})", spec)


def with_tokenizer(spec, model):
    """A text data spec naming the tokenizer of `model` (a Hugging Face folder's), so that the spec alone
    loads the data (a window's data is loaded by its spec); any other spec as it is."""
    folder = getattr(model, "tokenizer", None)
    path = spec.get("path") if isinstance(spec, dict) else spec
    if not folder or not isinstance(path, str) or path.startswith("sample:") or not is_text(Path(path)):
        return spec
    return {**(spec if isinstance(spec, dict) else {"path": spec}), "tokenizer": folder}
