"""Where the window keeps what it remembers between runs: geometry, layout, recent models, folders."""

from __future__ import annotations

from PySide6.QtCore import QSettings


def settings() -> QSettings:
    """The studio's settings (tests point IniFormat's user scope elsewhere)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "CompressionStudio", "studio")
