"""Start the Qt application and the main window. Core (torch, onnx) loads only after it shows."""

from __future__ import annotations

import os
import sys
import threading
import time


def run(path: str | None = None, trust: bool = False) -> int:
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
    return app.exec()


def warm_up_in_background() -> threading.Thread:
    """While the user looks at the empty window, import torch and the core and open the smallest
    sample once (which imports torch.fx, sympy and the rest on first use), so that the first model
    the user opens loads seconds sooner and its loading stalls the window less."""
    thread = threading.Thread(target=_warm_up, daemon=True)
    thread.start()
    return thread


def _warm_up() -> None:
    from studio.core.analysis import open_model
    from studio.core.jobs import run_to_end

    run_to_end(open_model("sample:digits-cnn"))
