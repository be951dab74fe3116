"""A version's and an export's numbers in plain words, one wording for the window, the card and the
command line: a result that is slower or larger than where it started says so wherever it is shown."""

from __future__ import annotations

from studio.core.inspect.summary import human_bytes


def version_lines(metrics: dict, parent: str = "the version it came from") -> list[str]:
    """A version's metrics, one fact per line: size, parameters, accuracy / fidelity, speed, runtime.
    `parent` names the version its agreement was measured against (the window says "v2 (its parent)")."""
    lines = []
    if "size_bytes" in metrics:
        lines.append(f"size {human_bytes(metrics['size_bytes'])}, zipped {human_bytes(metrics['zip_bytes'])}")
        if metrics.get("size_ratio", 1) > 1.05:
            lines.append(f"LARGER than the version it came from ({metrics['size_ratio']:.2f}× its size)")
    if "parameters" in metrics:
        lines.append(f"{metrics['parameters']:,} parameters, {metrics['nonzero_parameters']:,} non-zero ({metrics['sparsity']:.1%} zeros)")
    if "accuracy" in metrics:
        lines.append(f"accuracy {metrics['accuracy']:.2%} on the test split")
    if "agreement" in metrics:
        lines.append(f"agrees with {parent} on {metrics['agreement']:.2%} of the test split "
                     f"(SQNR {metrics['sqnr_db']:.1f} dB)")
    if "latency_ms" in metrics:
        lines.append(f"{metrics['latency_ms']:.3f} ms per example (batch 1)"
                     + (f", {speed_words(metrics['speedup'], 'the original')}" if "speedup" in metrics else ""))
    if "runtime" in metrics:
        lines.append(f"measured in {metrics['runtime']}")
    return lines


def latency_lines(metrics: dict) -> list[tuple[str, str]]:
    """(label, text) per timed batch: the export beside its source, timed the same way in the same run."""
    rows = []
    sources = metrics.get("source_latency") or [{}] * len(metrics.get("latency", []))
    for lat, src in zip(metrics.get("latency", []), sources):
        label = f"latency, batch {lat['batch']}"
        if "latency_ms" not in lat:
            rows.append((label, f"not measured: {lat.get('skipped', 'no inputs')}"))
            continue
        text = f"{lat['latency_ms']:.3f} ms (median of {lat.get('runs', '?')}, {lat['runtime']}, {lat['threads']} threads"
        text += f", on {lat['inputs']})" if lat.get("inputs") else ")"
        if "latency_ms" in src:
            text += f"; source {src['latency_ms']:.3f} ms: {speed_words(src['latency_ms'] / lat['latency_ms'])}"
        rows.append((label, text))
    return rows


def speed_words(speedup: float, than: str = "its source") -> str:
    if speedup >= 1.05:
        return f"{speedup:.2f}× faster than {than}"
    if speedup > 1 / 1.05:
        return f"about as fast as {than}"
    return f"SLOWER than {than} ({1 / speedup:.2f}× the time)"


def size_words(size: int, source_size: int) -> str:
    ratio = size / source_size if source_size else 1.0
    if ratio <= 0.95:
        return f"{ratio:.2f}× the source's size"
    if ratio < 1.05:
        return "about the source's size"
    return f"LARGER than its source ({ratio:.2f}× its size)"
