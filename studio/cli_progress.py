"""Progress on stderr for headless runs, and the plain-text report of a recipe run."""

from __future__ import annotations

import time

from studio.core.deliver.verdict import latency_lines, size_words, version_lines
from studio.core.process.distributed import is_main_process
from studio.core.process.jobs import Progress

WIDTH = 30


class ProgressBar:
    """A bar redrawn in place on a terminal; one line every few seconds when stderr is a file."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def update(self, event: Progress) -> None:
        if not is_main_process():  # under torchrun, one bar for all ranks
            return
        now = time.monotonic()
        milestone = any(k in event.metrics for k in ("accuracy", "agreement", "size_bytes"))
        if not milestone and now - self.last < (0.1 if self.tty else 2.0):
            return
        self.last = now
        filled = round(WIDTH * min(event.fraction, 1.0))
        shown = {k: v for k, v in event.metrics.items() if k in ("loss", "accuracy", "agreement", "sparsity")}
        extra = "  ".join(f"{k} {v:.4f}" for k, v in shown.items())
        line = f"[{'#' * filled}{'.' * (WIDTH - filled)}] {event.fraction:4.0%} {event.message} {extra}".rstrip()
        self.stream.write(("\r" + line[:150].ljust(150)) if self.tty else line + "\n")
        self.stream.flush()


def format_result(result) -> str:
    lines = []
    for i, s in enumerate(result.steps):
        lines.append(", ".join([f"{i + 1}. {s.op}: {s.label}", *version_lines(s.metrics)]))
        lines += [f"   note: {note}" for note in result.notes(i)]
    if result.export:
        e = result.export
        source_size = e["metrics"].get("source_size_bytes")
        lines.append(f"exported {e['path']}: {e['size_bytes']:,} B" + (f", zipped {e['zip_bytes']:,} B" if "zip_bytes" in e else "")
                     + (f" ({size_words(e['size_bytes'], source_size)})" if source_size else ""))
        m = e["metrics"]
        if "accuracy" in m:
            lines.append(f"  accuracy {m['accuracy']:.2%} in {m['runtime']}")
        lines += [f"  {label}: {text}" for label, text in latency_lines(m)]
    return "\n".join(lines)
