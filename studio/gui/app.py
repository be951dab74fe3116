"""Start the Qt application and the main window. Core (torch, onnx) loads only after it shows."""

from __future__ import annotations

import importlib
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
        QTimer.singleShot(0, import_core_in_background)
    return app.exec()


def import_core_in_background() -> threading.Thread:
    """Import torch and the core while the user looks at the empty window, so the first model opens
    seconds sooner. (The worker would import them anyway; this only does it before it is asked.)"""
    thread = threading.Thread(target=importlib.import_module, args=("studio.core.analysis",), daemon=True)
    thread.start()
    return thread
