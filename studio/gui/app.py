"""Start the Qt application and the main window. Core (torch, onnx) loads only after it shows."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time


def run(path: str | None = None, trust: bool = False) -> int:
    from studio.core.process.isolated import prepare_to_fork

    prepare_to_fork()  # the window's jobs run in forked children
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Compression Studio")
    app.setOrganizationName("CompressionStudio")

    from studio.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if os.environ.get("STUDIO_BENCH_SHOWN"):  # benchmarks/bench_window.py: report and leave
        QTimer.singleShot(0, lambda: (print(f"STUDIO_SHOWN {time.time():.6f}", flush=True), app.quit()))
        return app.exec()
    if path:
        QTimer.singleShot(0, lambda: window.open_model(path, trust=trust))
    else:
        QTimer.singleShot(0, warm_up_in_background)
        QTimer.singleShot(0, window.offer_guide)  # Getting Started, at the first start only
    return app.exec()


def warm_up_in_background() -> threading.Thread:
    """While the user looks at the empty window, import torch and the core, open the smallest sample
    and run each kind of job once on a little of its data. First use imports hundreds of modules
    (torch.fx, sympy, the optimizers' dynamo and distributed hooks, the exporter, ONNX Runtime's
    quantizer); unmarshalling each holds Python's lock, which would freeze the window again and again
    in the user's first open and first runs. Here it happens once, before they start.

    Python's cycle collector is off meanwhile, and what the warm-up leaves is then frozen out of its
    reach (gc.freeze): each full collection walks every object alive (hundreds of thousands once torch,
    onnx and the exporter are in) while holding the lock, which froze the window during the warm-up and
    again whenever one came due later. The price: the warm-up's own garbage is never collected."""
    thread = threading.Thread(target=_warm_up_frozen, daemon=True)
    thread.start()
    return thread


def _warm_up_frozen() -> None:
    gc.disable()
    try:
        _warm_up()
    finally:
        gc.freeze()  # collecting first would walk all of it, the very stall this avoids
        gc.enable()


def _warm_up() -> None:
    import importlib
    import pkgutil

    import studio.core

    # every core module, so that none is first imported by a slot on the GUI thread (the panels import
    # the core lazily, and an import holds Python's lock while it unmarshals)
    for module in pkgutil.walk_packages(studio.core.__path__, "studio.core."):
        importlib.import_module(module.name)
    from studio.core.evaluate.data import load_data
    from studio.core.process.jobs import NO_CANCEL, run_to_end
    from studio.core.process.threads import leave_a_core
    from studio.core.project.analysis import open_model
    from studio.core.project.recipe import StepResult, run_step
    from studio.core.project.steps import OPS, Context

    leave_a_core()  # as while the user's jobs run
    model = run_to_end(open_model("sample:digits-cnn")).model
    data = load_data("sample:digits")
    data = data.subset(slice(0, 200))
    start = StepResult("load", {}, "original", model, {})
    for op, options in [("finetune", {"epochs": 1}), ("quantize", {"mode": "static", "samples": 32}),
                        ("distill", {"student": {"width": 0.5}, "epochs": 1})]:
        run_to_end(run_step(start, op, OPS[op].validate(op, options), Context(data, "cpu", NO_CANCEL, model)))
