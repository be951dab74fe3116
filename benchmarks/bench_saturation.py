"""Where ONNX Runtime's int8 kernels saturate (x86 without VNNI, studio/core/compress/saturation.py): int8
on the real-model corpus with 8-bit weights as ORT runs them here, the same 8-bit files computed without
ORT's integer kernels (every QDQ pair in float: what a CPU whose kernels do not saturate computes, up to
rounding), and with 7-bit weights (what the studio's static int8 makes here). Static int8: QDQ, per-channel,
64 calibration examples, no tolerance fallback (for either); dynamic int8: per-channel, with 8-bit weights (the studio's)
and 7-bit ones, which came out further from float than saturated 8-bit ones on some models, so the studio keeps 8. Fidelity to the
float model on the test split. Writes benchmarks/results/saturation.md; on a CPU that does not saturate, says so and
measures nothing.

Run: `python scripts/make_corpus.py && python benchmarks/bench_saturation.py`.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path


@contextlib.contextmanager
def unfused():
    """ORT sessions without graph optimisation: QDQ pairs stay DequantizeLinear → float operator."""
    import onnxruntime as ort

    real = ort.SessionOptions

    def options():
        o = real()
        o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return o

    ort.SessionOptions = options
    try:
        yield
    finally:
        ort.SessionOptions = real


def main() -> None:
    import onnxruntime.quantization as ort_quantization
    from common import float_onnx_corpus, write

    from studio.core.compress import quantize_ort
    from studio.core.compress.quantize import quantize
    from studio.core.compress.saturation import saturates
    from studio.core.evaluate.metrics import fidelity, scored
    from studio.core.process.jobs import run_to_end

    studio_call = ort_quantization.quantize_dynamic
    if not saturates():
        write("saturation", "int8 where ONNX Runtime's kernels saturate", ["finding"],
              [["this CPU's int8 kernels do not saturate: nothing to measure"]])
        return

    def cell(version, test, reference) -> str:
        outs, _ = scored(version, test)
        f = fidelity(outs, reference)
        return f"cos {f['cosine']:.4f}, {f['agreement']:.0%}"

    rows = []
    for entry, model, data in float_onnx_corpus():
        test = data.test()
        reference, _ = scored(model, test)
        row = [entry["name"]]
        try:
            quantize_ort.saturates = lambda: False
            eight = run_to_end(quantize(model, data, mode="static", samples=64, tolerance=None))
            quantize_ort.saturates = lambda: True
            seven = run_to_end(quantize(model, data, mode="static", samples=64, tolerance=None))
            here = cell(eight, test, reference)
            with unfused():
                exact = cell(eight, test, reference)
            row += [here, exact, cell(seven, test, reference)]
        except Exception as e:  # noqa: BLE001  a failure is a finding of the table
            row += [f"failed: {str(e).splitlines()[0][:80]}", "", ""]
        finally:
            quantize_ort.saturates = saturates
        for reduce_range in (False, True):  # dynamic int8 keeps 8-bit weights; 7-bit ones for the comparison
            ort_quantization.quantize_dynamic = lambda *a, _r=reduce_range, **k: studio_call(*a, **{**k, "reduce_range": _r})
            try:
                row.append(cell(run_to_end(quantize(model, data, mode="dynamic", tolerance=None)), test, reference))
            except Exception as e:  # noqa: BLE001
                row.append(f"failed: {str(e).splitlines()[0][:80]}")
            finally:
                ort_quantization.quantize_dynamic = studio_call
        rows.append(row)
        print(" | ".join(row), flush=True)
    write("saturation", "int8 where ONNX Runtime's kernels saturate: 8-bit weights against 7-bit ones",
          ["model", "static, 8-bit weights", "static, 8-bit without integer kernels", "static, 7-bit weights (the studio here)",
           "dynamic, 8-bit weights (the studio)", "dynamic, 7-bit weights"], rows,
          "Cosine to the float model's output (mean over the test examples) and agreement (the same top class for class scores, "
          "else within 20 dB), ONNX Runtime CPU provider. This CPU's uint8 × int8 kernels saturate (saturation.py asked ORT). "
          "'without integer kernels': the 8-bit file in an ORT session without graph optimisation, every QDQ pair computed in "
          "float, as a CPU whose kernels do not saturate computes it up to rounding (dynamic int8's integer operators run the same "
          "kernels with or without optimisation, so it has no such column). The corpus's test splits hold 3–6 examples.")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
