"""Static int8 on the real-model corpus with int8 activations (ONNX Runtime's default, S8S8) and with
uint8 activations (U8S8, what the studio uses): latency at batch 1 and fidelity to the float model, the
same studio quantization otherwise (per-channel QDQ, 64 calibration examples, no tolerance fallback).
Writes benchmarks/results/static_activations.md.

Run: `python scripts/make_corpus.py && python benchmarks/bench_static_activations.py`.
"""

from __future__ import annotations

from pathlib import Path


def main() -> None:
    import onnxruntime.quantization as ort_quantization
    from common import float_onnx_corpus, write

    from studio.core.compress.quantize import quantize
    from studio.core.process.jobs import run_to_end
    from studio.core.project.recipe import step_metrics

    studio_call = ort_quantization.quantize_static
    rows = []
    for entry, model, data in float_onnx_corpus():
        float_metrics, reference = step_metrics(model, data, None, "cpu")
        row = [entry["name"], f"{float_metrics['latency_ms']:.2f}"]
        for activations in (ort_quantization.QuantType.QInt8, ort_quantization.QuantType.QUInt8):
            # the studio's own call, with only the activation type changed
            ort_quantization.quantize_static = lambda *a, _t=activations, **k: studio_call(*a, **{**k, "activation_type": _t})
            try:
                version = run_to_end(quantize(model, data, mode="static", samples=64, tolerance=None))
                m, _ = step_metrics(version, data, reference, "cpu")
                row += [f"{m['latency_ms']:.2f}", f"{m['sqnr_db']:.1f} dB, {m['agreement']:.0%}"]
            except Exception as e:  # noqa: BLE001  a failure is a finding of the table
                row += ["failed", str(e).splitlines()[0][:80]]
            finally:
                ort_quantization.quantize_static = studio_call
        rows.append(row)
        print(" | ".join(row), flush=True)
    write("static_activations", "Static int8: int8 or uint8 activations (S8S8 / U8S8)",
          ["model", "float ms", "S8S8 ms", "S8S8 fidelity (SQNR, agreement)", "U8S8 ms", "U8S8 fidelity"], rows,
          "Latency: batch 1 on an example of the model's data, ONNX Runtime CPU provider, the studio's version timing "
          "(warmed, median of up to 200 calls in half a second). Fidelity to the float model on the test split.")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    main()
