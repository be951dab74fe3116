"""PySide6 6.12.0 on Python 3.11 drops a reference to None on every Qt call that returns nothing, and
the process aborts after a few thousand calls (pyproject.toml pins it out). Fail loudly if a binding
with that fault comes back."""

import sys

from PySide6.QtCore import QRectF


def test_qt_calls_keep_references_to_none():
    rect = QRectF()
    before = sys.getrefcount(None)
    for _ in range(1000):
        rect.setWidth(1.0)
    assert before - sys.getrefcount(None) < 10
