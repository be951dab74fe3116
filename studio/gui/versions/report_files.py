"""File → Export Report: the project's versions table, Pareto chart and per-layer sparsity as
report.md with PNG charts in a folder (studio.core.project.report writes the Markdown; pyqtgraph the PNGs)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from studio.gui.common import dialogs
from studio.gui.common.folder_dialog import NewFolderDialog

CHART_SIZE = (900, 500)


def render_charts(project, folder: Path) -> dict[str, str]:
    """Draw the Pareto chart and the current version's zeros per layer offscreen, saved as PNG files."""
    from studio.core.inspect.layers import layers_of
    from studio.core.inspect.stats import layer_stats
    from studio.gui.inspect.sparsity_chart import SparsityChart
    from studio.gui.versions.pareto_chart import ParetoChart

    charts = {}
    pareto = ParetoChart()
    pareto.show_versions(project.history.versions, project.current)
    sparsity = SparsityChart()
    current = project.history.versions.get(project.current)
    if current is not None and (current.model.module is not None or current.model.onnx is not None):
        sparsity.show_layers({layer.name: layer_stats(layer) for layer in layers_of(current.model)})
    for caption, name, widget in [("Size against accuracy (every version; the frontier in green)", "pareto.png", pareto),
                                  ("Exactly-zero weights per layer of the current version", "sparsity.png", sparsity)]:
        widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)  # laid out at full size, never seen
        widget.resize(*CHART_SIZE)
        widget.show()
        QApplication.processEvents()
        if not widget.grab().save(str(folder / name)):
            raise OSError(f"cannot write {name}")
        charts[caption] = name
        widget.close()
        widget.deleteLater()
    return charts


def export_report(window: QWidget, project, folder: str | Path | None = None) -> Path | None:
    folder = folder or NewFolderDialog.choose(window, "Write the report into a folder")
    if not folder:
        return None
    from studio.core.errors import StudioError
    from studio.core.project.report import write_report

    folder = Path(folder)
    try:
        path = write_report(project, folder, render_charts(project, folder))
    except (OSError, StudioError) as e:
        dialogs.show_error(window, "Could not write the report", f"{folder}: {e}")
        return None
    window.statusBar().showMessage(f"Wrote the report to {path}", 8000)
    return path
