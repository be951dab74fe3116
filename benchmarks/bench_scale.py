"""Scale (issue 7): a 100M-parameter transformer loads, draws its graph and histograms in under 10 s,
with peak memory under 3× its size. Each format is measured in a fresh process (peak RSS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import onnx
import torch
from common import write
from torch import nn

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

MEASURE = r"""
import json, sys, time
import torch, onnx, numpy  # the libraries the studio has loaded by the time a user opens a model
from PySide6.QtWidgets import QApplication
app = QApplication([])

def peak_kb():  # VmHWM starts afresh at exec, unlike ru_maxrss, which a child inherits
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))

base = peak_kb()
from studio.core.project.analysis import open_model
from studio.core.process.jobs import run_to_end
from studio.gui.inspect.graph_view import GraphView
t = time.perf_counter()
info = run_to_end(open_model(sys.argv[1]))
loaded = time.perf_counter() - t
view = GraphView()
view.resize(1200, 800)
view.show_graph(info.graph, info.stats)
view.show()
app.processEvents()
view.grab()
total = time.perf_counter() - t
peak = peak_kb()
print(json.dumps({"load_analyse_s": loaded, "total_s": total, "peak_kb": peak, "base_kb": base,
                  "parameters": info.total.parameters, "nodes": info.graph.node_count()}))
"""


def transformer() -> nn.Module:
    layer = nn.TransformerEncoderLayer(d_model=1024, nhead=16, dim_feedforward=4096, batch_first=True)
    model = nn.TransformerEncoder(layer, num_layers=8, enable_nested_tensor=False).eval()
    with torch.no_grad():  # the copies start identical, and exporters store identical weights once
        for p in model.parameters():
            p.normal_(0, 0.02)
    return model


def main() -> None:
    model = transformer()
    params = sum(p.numel() for p in model.parameters())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ts = Path(tmp) / "transformer.pt"
        torch.jit.save(torch.jit.script(model), ts)
        onnx_path = Path(tmp) / "transformer.onnx"
        torch.backends.mha.set_fastpath_enabled(False)  # the fused eval kernel has no ONNX form
        with torch.no_grad():
            torch.onnx.export(model, (torch.zeros(1, 16, 1024),), str(onnx_path), dynamo=False)
        onnx.save_model(onnx.load(str(onnx_path)), str(onnx_path), save_as_external_data=True, location="transformer.onnx.data")
        data_file = onnx_path.with_name("transformer.onnx.data")
        for label, path, files in [("TorchScript", ts, [ts]), ("ONNX + external data", onnx_path, [onnx_path, data_file])]:
            size = sum(f.stat().st_size for f in files)
            out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            grown = (r["peak_kb"] - r["base_kb"]) * 1024
            rows.append([label, f"{r['parameters']:,}", f"{size / 1e6:.0f} MB", f"{r['nodes']:,}", f"{r['total_s']:.1f} s",
                         f"{r['peak_kb'] / 1e3:.0f} MB ({r['peak_kb'] * 1024 / size:.1f}×)",
                         f"{grown / 1e6:.0f} MB ({grown / size:.1f}×)", "< 10 s; < 3× its size"])
    write("scale", f"Scale: a {params / 1e6:.0f}M-parameter transformer (issue 7)",
          ["format", "parameters", "on disk", "graph nodes", "load + statistics + histograms + graph drawn",
           "peak memory (× size)", "peak growth over the libraries (× size)", "target"], rows,
          "Fresh process per row; memory is peak resident set size; 'growth' subtracts what torch, onnx and Qt "
          "take before the model is opened.")


if __name__ == "__main__":
    main()
