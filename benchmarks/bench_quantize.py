"""Quantization and export targets of issue 5, each beside the tool called directly:

1. sample:lenet-5, static int8 through the studio: file ≤ 0.27× the fp32 export, accuracy drop ≤ 0.5 pt
   (sample:mnist5k test split, measured in ONNX Runtime); onnxruntime's quantize_static called directly
   with its defaults on the same calibration examples beside it.
2. A small transformer encoder (2 layers, d_model 128) trained here to classify MNIST images read as
   28 rows of 28 pixels, exported to ONNX, dynamic int8 through the studio: file ≤ 0.30×, mean cosine
   fidelity ≥ 0.98 and never below onnxruntime.quantization.quantize_dynamic with default arguments,
   latency within 1.1× of that direct call; torch.ao dynamic quantization of its nn.Linear beside it.
3. fp32 export parity (PyTorch against the exported file in ONNX Runtime): max abs difference ≤ 1e-4.

Latency: ONNX Runtime CPU provider, 1 thread, median of 50 calls per round; the table gives the median
(min–max) over 5 rounds that interleave the variants. Quantize times: median (min–max) of 5 runs.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path

import onnx
import torch
from common import write
from onnxruntime.quantization import quantize_dynamic, quantize_static
from torch import nn

from studio.core.compress.quantize import quantize
from studio.core.compress.quantize_ort import Calibration
from studio.core.deliver.deploy import export_version
from studio.core.deliver.export import write_onnx
from studio.core.evaluate.data import load_data
from studio.core.evaluate.latency import latency
from studio.core.evaluate.metrics import accuracy, fidelity
from studio.core.evaluate.runtime import predict
from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.formats.to_onnx import quiet, to_onnx
from studio.core.process.jobs import run_to_end

RUNS = 5
ROUNDS = 9
CALLS = 50
BATCHES = (1, 64)
TRANSFORMER_EPOCHS = 3


def spread(values, fmt="{:.3f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def timed(make, runs: int = RUNS):
    """The result of make() and its wall times over `runs` runs."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = make()
        times.append(time.perf_counter() - t)
    return result, times


def onnx_file(path: Path) -> Model:
    return load_model(str(path))


def latencies(variants: dict[str, callable]) -> dict[str, dict[int, list[float]]]:
    """name → batch → per-round medians; the variants take turns so that load on the machine hits all."""
    out = {name: {b: [] for b in BATCHES} for name in variants}
    for _ in range(ROUNDS):
        for name, measure in variants.items():
            for b in BATCHES:
                out[name][b].append(measure(b))
    return out


def ort_latency(model: Model, data=None):
    """Timed on examples of the data (the same examples for every variant)."""
    return lambda batch: latency(model, data, batch, threads=1, runs=CALLS, budget_s=60)["latency_ms"]


def torch_latency(module: nn.Module, shape):
    def measure(batch):
        x = torch.rand(batch, *shape)
        with torch.no_grad():
            for _ in range(3):
                module(x)
            times = []
            for _ in range(CALLS):
                t = time.perf_counter()
                module(x)
                times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    return measure


def lat_cells(lat: dict[int, list[float]], peer: dict[int, list[float]] | None = None) -> list[str]:
    """Latency per batch; beside a peer, the ratio taken round by round (both measured moments apart)."""
    ratios = "–" if peer is None else " / ".join(spread([a / b for a, b in zip(lat[k], peer[k])], "{:.2f}") for k in BATCHES)
    return [spread(lat[b]) for b in BATCHES] + [ratios]


# 1. LeNet-5, static int8 ---------------------------------------------------------------------------


def lenet_static(folder: Path) -> list[list]:
    base = load_model("sample:lenet-5")
    data = load_data("sample:mnist5k")
    test = data.test()
    fp32 = to_onnx(base)
    fp32_path = folder / "lenet5-fp32.onnx"
    fp32_size = write_onnx(fp32, fp32_path)["size_bytes"]
    fp32_acc = accuracy(predict(fp32, test.x), test.y)

    studio, studio_times = timed(lambda: run_to_end(quantize(fp32, data, mode="static")))
    studio_size = write_onnx(studio, folder / "lenet5-studio.onnx")["size_bytes"]

    def direct():
        with quiet(""):
            quantize_static(fp32_path, folder / "lenet5-direct.onnx", Calibration(data, fp32, 256))
        return onnx_file(folder / "lenet5-direct.onnx")

    direct_model, direct_times = timed(direct)
    variants = {"fp32": fp32, "studio": studio, "direct": direct_model}
    lat = latencies({k: ort_latency(m, data) for k, m in variants.items()})
    rows = []
    for name, label, size, times in [
        ("fp32", "lenet-5 fp32 export", fp32_size, None),
        ("studio", "lenet-5 static int8: studio (QDQ, per-channel, MinMax, 256 samples)", studio_size, studio_times),
        ("direct", "lenet-5 static int8: quantize_static called directly, defaults (QDQ, per-tensor, MinMax), same 256 samples",
         (folder / "lenet5-direct.onnx").stat().st_size, direct_times),
    ]:
        acc = accuracy(predict(variants[name], test.x), test.y)
        target = "≤ 0.27×; drop ≤ 0.5 pt" if name == "studio" else ""
        rows.append([label, f"{size:,} B ({size / fp32_size:.3f}×)", f"{acc:.2%} ({(fp32_acc - acc) * 100:+.2f} pt)", "–",
                     *lat_cells(lat[name], lat["direct"] if name == "studio" else None),
                     spread(times, "{:.2f} s") if times else "–", target])
    return rows


# 2. A transformer encoder, dynamic int8 --------------------------------------------------------------


class RowTransformer(nn.Module):
    """Reads a 28×28 image as 28 tokens of 28 pixels: linear embedding, learned positions, a
    TransformerEncoder, mean over tokens, linear classifier."""

    def __init__(self, d_model: int = 128, layers: int = 2, heads: int = 4):
        super().__init__()
        self.embed = nn.Linear(28, d_model)
        self.pos = nn.Parameter(torch.randn(1, 28, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 10)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x.reshape(-1, 28, 28)) + self.pos).mean(1))


def train_transformer(data) -> tuple[nn.Module, float]:
    torch.manual_seed(0)
    train = data.train()
    x, y = torch.from_numpy(train.x["input"]), torch.from_numpy(train.y)
    module = RowTransformer()
    opt = torch.optim.AdamW(module.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    module.train()
    for _ in range(TRANSFORMER_EPOCHS):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(module(x[idx]), y[idx]).backward()
            opt.step()
    return module.eval(), time.perf_counter() - t


class WithoutFastPath(nn.Module):
    """torch.ao's dynamically quantized Linear has no `.weight` tensor, which the fast inference path of
    nn.TransformerEncoderLayer reads: run the quantized model on the regular path."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        enabled = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            return self.module(x)
        finally:
            torch.backends.mha.set_fastpath_enabled(enabled)


def state_bytes(module: nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.tell()


def transformer_dynamic(folder: Path) -> tuple[list[list], Model, object]:
    data = load_data("sample:mnist5k")
    test = data.test()
    module, train_s = train_transformer(data)
    source = Model("benchmark:row-transformer", Format.PICKLED_MODULE, [TensorSpec("input", ("batch", 1, 28, 28))],
                   [TensorSpec("logits", ("batch", 10))], module=module)
    fp32 = to_onnx(source)
    fp32_path = folder / "transformer-fp32.onnx"
    fp32_size = write_onnx(fp32, fp32_path)["size_bytes"]
    reference = predict(fp32, test.x)

    studio, studio_times = timed(lambda: run_to_end(quantize(fp32, mode="dynamic")))
    per_tensor, per_tensor_times = timed(lambda: run_to_end(quantize(fp32, mode="dynamic", per_channel=False)))

    def direct():
        with quiet(""):
            quantize_dynamic(fp32_path, folder / "transformer-direct.onnx")
        return onnx_file(folder / "transformer-direct.onnx")

    direct_model, direct_times = timed(direct)
    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    ao, ao_times = timed(lambda: WithoutFastPath(torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)))
    ort_variants = {"fp32": fp32, "studio": studio, "per-tensor": per_tensor, "direct": direct_model}
    torch.set_num_threads(1)
    lat = latencies({**{k: ort_latency(m, data) for k, m in ort_variants.items()},
                     "torch fp32": torch_latency(module, (1, 28, 28)), "torch.ao": torch_latency(ao, (1, 28, 28))})
    torch_reference = predict(source, test.x)
    sizes = {"fp32": fp32_size, "direct": (folder / "transformer-direct.onnx").stat().st_size}
    for name in ("studio", "per-tensor"):
        sizes[name] = write_onnx(ort_variants[name], folder / f"transformer-{name}.onnx")["size_bytes"]
    rows = []
    for name, label, times, target in [
        ("fp32", f"transformer fp32 export ({TRANSFORMER_EPOCHS} epochs, {train_s:.0f} s of training)", None, ""),
        ("studio", "transformer dynamic int8: studio default (per-channel, ORT pre-processing)", studio_times,
         "≤ 0.30×; cosine ≥ 0.98 and ≥ direct; latency ≤ 1.1× direct"),
        ("per-tensor", "transformer dynamic int8: studio, per_channel: false", per_tensor_times, ""),
        ("direct", "transformer dynamic int8: quantize_dynamic called directly, defaults", direct_times, ""),
    ]:
        logits = predict(ort_variants[name], test.x)
        f = fidelity(logits, reference)
        fid = "–" if name == "fp32" else f"cosine {f['cosine']:.5f}, SQNR {f['sqnr_db']:.1f} dB, agreement {f['agreement']:.1%}"
        rows.append([label, f"{sizes[name]:,} B ({sizes[name] / fp32_size:.3f}×)", f"{accuracy(logits, test.y):.2%}", fid,
                     *lat_cells(lat[name], lat["direct"] if name in ("studio", "per-tensor") else None),
                     spread(times, "{:.2f} s") if times else "–", target])
    ao_logits = predict(Model(source.source, source.format, source.inputs, module=ao), test.x)
    f = fidelity(ao_logits, torch_reference)
    fp32_state = state_bytes(module)
    for name, label, size, logits, fid, times in [
        ("torch fp32", "transformer fp32 in PyTorch (state_dict)", fp32_state, torch_reference, "–", None),
        ("torch.ao", "transformer torch.ao.quantization.quantize_dynamic on nn.Linear (runs in PyTorch)", state_bytes(ao),
         ao_logits, f"cosine {f['cosine']:.5f}, SQNR {f['sqnr_db']:.1f} dB, agreement {f['agreement']:.1%} (to PyTorch fp32)", ao_times),
    ]:
        rows.append([label, f"{size:,} B ({size / fp32_state:.3f}× its state_dict)", f"{accuracy(logits, test.y):.2%}", fid,
                     *lat_cells(lat[name]), spread(times, "{:.2f} s") if times else "–", ""])
    return rows, source, data


# 3. fp32 export parity -------------------------------------------------------------------------------


def parity_rows(folder: Path, transformer: Model, mnist) -> list[list]:
    rows = []
    for model in (load_model("sample:lenet-5"), load_model("sample:lenet-300-100"), transformer):
        out = run_to_end(export_version(model, folder / "parity.onnx", mnist))
        p = out["metrics"]["parity"]
        rows.append([f"fp32 export parity: {model.source}", f"{out['size_bytes']:,} B", f"{out['metrics']['accuracy']:.2%}",
                     f"max abs diff {p['max_abs_diff']:.2e}, top-1 agreement {p['top1_agreement']:.1%} ({p['reference']} vs ORT)",
                     "–", "–", "–", "–", "≤ 1e-4"])
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = lenet_static(folder)
        transformer_rows, transformer, mnist = transformer_dynamic(folder)
        rows += transformer_rows + parity_rows(folder, transformer, mnist)
    write("quantize", "Quantization and export targets (issue 5)",
          ["run", "file size (× fp32 export)", "accuracy (drop)", "fidelity to fp32 (test split)",
           f"latency batch {BATCHES[0]}, ms", f"latency batch {BATCHES[1]}, ms",
           f"latency ÷ the direct call, batch {BATCHES[0]} / {BATCHES[1]}", "quantize time", "target"], rows,
          f"Data: sample:mnist5k, accuracy on its 1,000-image test split, every ONNX file run in ONNX Runtime {onnx_runtime()} "
          "(CPU provider). Latency: 1 thread (ONNX Runtime and PyTorch), median of 50 calls per round, median (min–max) "
          f"over {ROUNDS} interleaved rounds; the ratio to the direct call is taken within each round (median, min–max) because the shared machine's load moves both together. Quantize time: median (min–max) of {RUNS} runs; the studio's includes ORT's "
          "pre-processing and a check that ONNX Runtime loads the result.")


def onnx_runtime() -> str:
    import onnxruntime

    return f"{onnxruntime.__version__} (onnx {onnx.__version__})"


if __name__ == "__main__":
    main()
