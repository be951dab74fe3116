"""Start the Qt application and the main window."""

from __future__ import annotations

import sys


def run(path: str | None = None, trust: bool = False) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    window = QMainWindow()
    window.setWindowTitle("Compression Studio")
    window.setCentralWidget(QLabel(path or "Open a model or try a sample"))
    window.resize(1200, 800)
    window.show()
    return app.exec()
