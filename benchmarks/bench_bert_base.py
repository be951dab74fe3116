"""A 12-layer BERT-base-sized Hugging Face folder (random weights: 768 hidden, 12 heads, 3072 intermediate,
110M parameters) opened in the window (issue 18's target: it opens, and its graph is drawn, in under 5 s
here), written to benchmarks/results/bert_base.md.

Each run is a fresh process (bench_window's probe: the window shown, the core warmed up, then File → Open
on the folder): seconds until the model is shown (its panels filled, the graph laid out as blocks),
the longest stall of the event loop meanwhile, and the boxes the graph shows.

Run: `pip install 'compression-studio[transformers]' && python benchmarks/bench_bert_base.py`
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

from common import in_fresh_process, probe_or_main, write

RUNS = 3


def probe(folder: str) -> dict:
    from bench_window import probe as window_probe

    from studio.core.formats.load import load_model
    from studio.core.inspect.model_graph import graph_of

    out = window_probe(folder)
    graph = graph_of(load_model(folder))
    return {**out, "boxes": len(graph.nodes), "operations": graph.node_count()}


def main() -> None:
    import torch
    import transformers
    from transformers import BertConfig, BertModel

    transformers.utils.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bert-base"
        torch.manual_seed(0)
        BertModel(BertConfig()).save_pretrained(folder)  # BERT-base's sizes, random weights
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": tmp}
        runs = [in_fresh_process(__file__, str(folder), env) for _ in range(RUNS)]
    shown = [r["shown_s"] for r in runs]
    stalls = [max(r["load_gaps"]) for r in runs]
    rows = [["BERT-base-sized folder, 12 layers, 110M parameters (random weights)",
             f"{statistics.median(shown):.1f} s ({min(shown):.1f}–{max(shown):.1f})", "< 5 s",
             f"{statistics.median(stalls):.0f} ms", f"{runs[0]['boxes']} boxes for {runs[0]['operations']} operations"]]
    write("bert_base", "A BERT-base-sized Hugging Face folder in the window (issue 18)",
          ["model", f"opened and shown: median of {RUNS} (range)", "target", "longest stall, median", "graph"], rows,
          "Fresh process per run, offscreen Qt platform, the core warmed up first as `studio` does; 'opened and shown' "
          "is File → Open until the model is shown (its panels filled, the graph laid out as blocks). "
          "Run: `.venv/bin/python benchmarks/bench_bert_base.py`.")


if __name__ == "__main__":
    probe_or_main(probe, main)
