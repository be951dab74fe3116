"""Hugging Face model folders (config.json, the weights, tokenizer files) as eager PyTorch modules, made by
transformers' Auto classes with the head the config names, never with network access. Code shipped in the
folder (`auto_map`) runs only with the user's trust, as a pickled module's does; without it nothing runs.

The module the studio holds takes the model's inputs positionally, in a fixed order (input_ids,
attention_mask, token_type_ids where the model uses them; or pixel_values) and returns one tensor: the
head's logits, the sentence embedding a sentence-transformers pooling config describes, or the last
hidden states of a bare encoder."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
from pathlib import Path

import torch

from studio.core.errors import StudioError, TrustRequired, first_line
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.process.locks import MODULE_LOCK

HF_INSTALL = "pip install 'compression-studio[transformers]'"
TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
WEIGHTS = ("*.safetensors", "pytorch_model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model", "vocab.json")
# the head an `architectures` entry ends with → transformers' Auto class, and the output's name and axes
HEADS = {
    "ForSequenceClassification": ("AutoModelForSequenceClassification", "logits", ("batch", "labels")),
    "ForTokenClassification": ("AutoModelForTokenClassification", "logits", ("batch", "sequence", "labels")),
    "ForImageClassification": ("AutoModelForImageClassification", "logits", ("batch", "labels")),
}
POOLINGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max"}


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def transformers_installed() -> bool:
    return importlib.util.find_spec("transformers") is not None


def read_json(path: Path, source: str) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StudioError(f"cannot read {path.name} ({first_line(e)})", source) from None
    if not isinstance(value, dict):
        raise StudioError(f"{path.name} is not a JSON object", source)
    return value


def remote_code(folder: Path, config: dict) -> list[str]:
    """The Python files the folder's configs ask transformers to import (`auto_map`): code that would run."""
    maps = [config.get("auto_map")]
    for name in ("tokenizer_config.json", "preprocessor_config.json"):
        if (folder / name).is_file():
            maps.append(read_json(folder / name, str(folder)).get("auto_map"))
    refs = []
    for m in maps:
        if isinstance(m, dict):
            refs += [v for value in m.values() for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return sorted({r.split("--")[-1].split(".")[0] + ".py" for r in refs})


def offline_transformers(source: str):
    """transformers, told never to reach the network and to keep its progress bars to itself."""
    if not transformers_installed():
        raise StudioError(f"a Hugging Face model folder: opening it needs transformers ({HF_INSTALL})", source)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def load_hf(folder: Path, source: str, trust: bool) -> Model:
    config = read_json(folder / "config.json", source)
    code = remote_code(folder, config)
    if code and not trust:
        raise TrustRequired(f"a Hugging Face folder whose config runs code shipped with it ({', '.join(code)}). "
                            "Load it only if you trust where it came from (--trust)", source)
    if not any(any(folder.glob(p)) for p in WEIGHTS):
        raise StudioError("a Hugging Face folder without weights (model.safetensors or pytorch_model.bin)", source)
    transformers = offline_transformers(source)
    pooling = sentence_pooling(folder, source)
    arch = next(iter(config.get("architectures") or []), "")
    by_class = {h[0]: h for h in HEADS.values()}  # a folder with code names its head in auto_map
    head = None if pooling else next((h for suffix, h in HEADS.items() if arch.endswith(suffix)), None) or next(
        (by_class[k] for k in (config.get("auto_map") or {}) if k in by_class), None)
    auto_class, out_name, out_axes = head or ("AutoModel", "sentence_embedding" if pooling else "last_hidden_state", None)
    try:
        with MODULE_LOCK:
            hf = getattr(transformers, auto_class).from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=bool(code), dtype=torch.float32)
    except Exception as e:  # transformers raises many types for folders it cannot read
        raise StudioError(f"transformers cannot open it as {auto_class} ({first_line(e)})", source) from None
    hf.eval()
    cfg = hf.config
    if "pixel_values" in inspect.signature(hf.forward).parameters and "input_ids" not in inspect.signature(hf.forward).parameters:
        size = cfg.image_size if isinstance(getattr(cfg, "image_size", None), int) else 224
        inputs = [TensorSpec("pixel_values", ("batch", getattr(cfg, "num_channels", 3), size, size))]
        module, tokenizer = ImageModel(hf).eval(), None
    else:
        names = text_inputs(folder, hf, config)
        inputs = [TensorSpec(n, ("batch", "sequence"), "int64") for n in names]
        module, tokenizer = TextModel(hf, names, *(pooling or (None, False))).eval(), str(folder) if has_tokenizer(folder) else None
    hidden = getattr(cfg, "hidden_size", None)
    shape = out_axes or (("batch", hidden) if pooling else ("batch", "sequence", hidden))
    shape = tuple(getattr(cfg, "num_labels", d) if d == "labels" else d for d in shape)
    what = (f"the {pooling[0]}-pooled{' normalised' if pooling[1] else ''} sentence embedding" if pooling else
            f"the {auto_class.removeprefix('AutoModelFor')} head's logits" if head else "the last hidden states (features)")
    notes = [f"{arch or cfg.model_type} ({getattr(cfg, 'num_hidden_layers', '?')} layers): returns {what}"
             + ("" if tokenizer or inputs[0].name == "pixel_values" else "; no tokenizer files: text data cannot be read for it")]
    if code:
        notes.append(f"runs code shipped in the folder: {', '.join(code)}")
    return Model(source, Format.HF_FOLDER, inputs=inputs, outputs=[TensorSpec(out_name, shape)], module=module,
                 size_bytes=sum(f.stat().st_size for p in WEIGHTS for f in folder.glob(p)), notes=notes, tokenizer=tokenizer)


def sentence_pooling(folder: Path, source: str) -> tuple[str, bool] | None:
    """(mode, normalize) of a sentence-transformers folder (modules.json or 1_Pooling/config.json), else None."""
    modules = read_json_list(folder / "modules.json", source)
    types = {m.get("type", "").rsplit(".", 1)[-1]: m.get("path", "") for m in modules if isinstance(m, dict)}
    pool_dir = folder / types.get("Pooling", "1_Pooling")
    if not (pool_dir / "config.json").is_file():
        return None
    config = read_json(pool_dir / "config.json", source)
    mode = next((m for key, m in POOLINGS.items() if config.get(key)), None)
    if mode is None:
        raise StudioError(f"its pooling ({pool_dir.name}/config.json) is none of {', '.join(POOLINGS.values())}", source)
    return mode, "Normalize" in types


def read_json_list(path: Path, source: str) -> list:
    if not path.is_file():
        return []
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StudioError(f"cannot read {path.name} ({first_line(e)})", source) from None
    return value if isinstance(value, list) else []


def has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


def text_inputs(folder: Path, hf, config: dict) -> list[str]:
    """The inputs the model takes and its tokenizer gives, in TEXT_INPUTS order: token_type_ids only where
    the model has more than one segment type and the tokenizer makes them."""
    takes = inspect.signature(hf.forward).parameters
    given = TEXT_INPUTS
    if (folder / "tokenizer_config.json").is_file():
        names = read_json(folder / "tokenizer_config.json", str(folder)).get("model_input_names")
        given = tuple(names) if isinstance(names, list) else given
    segments = config.get("type_vocab_size", 0) > 1
    return [n for n in TEXT_INPUTS if n in takes and (n in given or n == "input_ids") and (n != "token_type_ids" or segments)]


def max_length(folder: Path) -> int:
    """The longest sequence the model takes: its position embeddings, its tokenizer's and a
    sentence-transformers folder's limits, the smallest of those given."""
    limits = []
    for name, key in (("config.json", "max_position_embeddings"), ("tokenizer_config.json", "model_max_length"),
                      ("sentence_bert_config.json", "max_seq_length")):
        value = read_json(folder / name, str(folder)).get(key) if (folder / name).is_file() else None
        if isinstance(value, int) and 0 < value < 1_000_000:
            limits.append(value - 2 if name == "config.json" and read_json(folder / name, str(folder)).get("model_type") in
                          ("roberta", "xlm-roberta", "camembert") else value)  # their positions start after the padding index
    return min(limits, default=512)


class TextModel(torch.nn.Module):
    """A transformers text model taking its inputs positionally (the order of `names`) and returning one tensor."""

    def __init__(self, model: torch.nn.Module, names: list[str], pooling: str | None = None, normalize: bool = False):
        super().__init__()
        self.model, self.names, self.pooling, self.normalize = model, tuple(names), pooling, normalize

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        given = dict(zip(TEXT_INPUTS, (input_ids, attention_mask, token_type_ids)))
        out = self.model(**{n: given[n] for n in self.names if given[n] is not None}, return_dict=True)
        if self.pooling is None:
            return out.logits if hasattr(out, "logits") else out.last_hidden_state
        hidden = out.last_hidden_state
        mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "max":
            pooled = hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).amax(1)
        else:
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1) if self.normalize else pooled


class ImageModel(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values, return_dict=True)
        return out.logits if hasattr(out, "logits") else out.last_hidden_state
