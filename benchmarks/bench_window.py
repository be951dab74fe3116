"""The window: time from `studio` to a visible window (target < 2 s), and the longest freeze of the
GUI event loop while a ~100M-parameter model loads in the worker (target < 50 ms).

Each measurement runs in a fresh process, as a user's session would: the first model a window opens
also pays for importing torch in the worker.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import in_fresh_process, probe_or_main, write

from studio.gui.common.stall_probe import TICK_MS

RUNS = 5  # start-ups, and fresh processes per model for the stalls
LAYERS, WIDTH = 6, 4096  # 6 × (4096² + 4096) = 100.7M parameters, 403 MB of float32


def startup_seconds(env: dict) -> float:
    studio = Path(sys.executable).with_name("studio")
    start = time.time()
    out = subprocess.run([str(studio)], env={**env, "STUDIO_BENCH_SHOWN": "1"}, capture_output=True, text=True, timeout=120, check=True)
    return float(out.stdout.split()[-1]) - start


def make_big_models(folder: Path) -> dict[str, Path]:
    """The same 100.7M-parameter MLP as TorchScript, as ONNX with its weights in external data, and as
    one ONNX file (weights inside: how most ONNX files under 2 GB are written)."""
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper

    with torch.no_grad():
        model = torch.nn.Sequential(*[m for _ in range(LAYERS) for m in (torch.nn.Linear(WIDTH, WIDTH), torch.nn.ReLU())])
        for i in range(0, 2 * LAYERS, 2):
            model[i].weight[:, ::3] = 0  # a third pruned: zero counting and the heatmap do real work
    paths = {"TorchScript": folder / "big.pt", "ONNX + external data": folder / "big.onnx", "ONNX, one file": folder / "inline.onnx"}
    torch.jit.save(torch.jit.script(model), str(paths["TorchScript"]))
    nodes, weights, x = [], [], "input"
    for i in range(LAYERS):
        linear = model[2 * i]
        weights += [numpy_helper.from_array(linear.weight.detach().numpy(), f"fc{i}.weight"),
                    numpy_helper.from_array(linear.bias.detach().numpy(), f"fc{i}.bias")]
        nodes += [helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [f"h{i}"], name=f"fc{i}", transB=1),
                  helper.make_node("Relu", [f"h{i}"], [f"r{i}"], name=f"relu{i}")]
        x = f"r{i}"
    graph = helper.make_graph(
        nodes, "big", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", WIDTH])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", WIDTH])], weights,
    )
    onnx.save_model(helper.make_model(graph), str(paths["ONNX + external data"]), save_as_external_data=True, location="big.onnx.data")
    onnx.save_model(helper.make_model(graph), str(paths["ONNX, one file"]))
    return paths


def probe(source: str) -> dict:
    """In this process: open `source` in the window and record the gaps between 5 ms timer ticks."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from studio.gui.common.stall_probe import StallProbe
    from studio.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    app.processEvents()
    from studio.gui.app import warm_up_in_background

    clock, probe = QElapsedTimer(), StallProbe()

    def measure(action, done=None) -> tuple[float, list[int]]:
        """Run action 50 ms into a probed event loop; stop once done() (a signal or a test) says so."""
        loop = QEventLoop()
        if done is None:
            QTimer.singleShot(50, lambda: QTimer.singleShot(200, loop.quit))
        elif hasattr(done, "connect"):
            done.connect(loop.quit)
        else:
            poll = QTimer(interval=20)
            poll.timeout.connect(lambda: done() and loop.quit())
            poll.start()
        window.runner.failed.connect(lambda e: (print(e, file=sys.stderr), loop.quit()))
        clock.start()
        probe.start()
        QTimer.singleShot(50, action)
        loop.exec()
        app.processEvents()
        return clock.elapsed() / 1000, probe.stop().gaps_ms

    warm = []
    _, warm_gaps = measure(lambda: warm.append(warm_up_in_background()), lambda: bool(warm) and not warm[0].is_alive())
    opened = []
    window.modelChanged.connect(lambda *_: opened.append(clock.elapsed() / 1000))
    session = window.compression.session
    # opening ends when the model is shown and its first version measured (size, zipped size)
    load_s, load_gaps = measure(lambda: window.open_model(source), lambda: bool(opened) and not window.runner.running and not session.running)
    shown_s = opened[0]
    biggest = max(window.info.layers, key=lambda layer: window.info.stats[layer.name].parameters).name

    def show_biggest_map():
        window.tabs.setCurrentWidget(window.sparsity_split)
        window.select_layer(biggest)

    _, select_gaps = measure(show_biggest_map)
    window.close()
    return {"load_s": load_s, "shown_s": shown_s, "warm_gaps": warm_gaps, "load_gaps": load_gaps, "select_gaps": select_gaps}


def _stalls(runs: list[list[float]]) -> list[str]:
    """Median and worst, over the runs, of each run's longest gap."""
    longest = [max(gaps) for gaps in runs]
    return [f"{statistics.median(longest):.0f} ms", f"{max(longest):.0f} ms"]


def main() -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": tmp}  # not the user's settings
        startups = [startup_seconds(env) for _ in range(RUNS)]
        rows = [["`studio` → window shown", f"{statistics.median(startups):.2f} s", f"{max(startups):.2f} s",
                 "torch and onnx not yet imported", "< 2 s"]]
        sources = {"sample:lenet-5": "sample:lenet-5"}
        for kind, path in make_big_models(Path(tmp)).items():
            size = sum(f.stat().st_size for f in path.parent.glob(path.name + "*"))
            sources[f"{kind}, 100.7M parameters ({size / 1e6:.0f} MB)"] = str(path)
        warm_stalls = []
        for label, source in sources.items():
            probes = [in_fresh_process(__file__, source, env) for _ in range(RUNS)]
            warm_stalls += [max(p["warm_gaps"]) for p in probes]
            rows.append([f"stall while opening {label}", *_stalls([p["load_gaps"] for p in probes]),
                         f"shown in {statistics.median(p['shown_s'] for p in probes):.1f} s, sizes measured (zipped) "
                         f"by {statistics.median(p['load_s'] for p in probes):.1f} s", "< 50 ms"])
            rows.append(["  then: select its largest layer, Sparsity tab open", *_stalls([p["select_gaps"] for p in probes]), "", "—"])
        rows.insert(1, ["stall while the core warms up in the background once the window shows",
                        f"{statistics.median(warm_stalls):.0f} ms", f"{max(warm_stalls):.0f} ms", "loading torch's shared libraries holds the GIL", "—"])
    write(
        "window",
        "The window: start-up and responsiveness",
        ["measure", f"median of {RUNS}", "worst", "notes", "target"],
        rows,
        f"A stall is the longest gap between two ticks of a {TICK_MS} ms QTimer in the GUI thread while the worker "
        "loads and analyses the model, the window fills its panels and the first version's sizes are measured "
        "(each run a fresh process, the core warmed up first as `studio` does). TorchScript archives and ONNX files "
        "over 64 MB load through a child process in the window (torch.jit.load and protobuf's parsing hold Python's lock "
        "for their whole read). Offscreen Qt platform, on a machine shared with other work: load average "
        f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run. "
        "Run: `.venv/bin/python benchmarks/bench_window.py`.",
    )


if __name__ == "__main__":
    probe_or_main(probe, main)
