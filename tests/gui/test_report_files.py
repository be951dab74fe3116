"""File → Export Report: a Markdown report with the versions table and PNG charts."""

from PySide6.QtGui import QImage


def test_export_report_writes_markdown_and_charts(studio, run_sheet, tmp_path, choose_folder):
    window = studio
    run_sheet(window, "prune", lambda sheet: sheet.form.set_value("sparsity", 0.6))
    folder = tmp_path / "reports" / "lenet"  # not made yet: the folder dialog makes it
    choose_folder(folder)
    window.compression.report_action.trigger()
    text = (folder / "report.md").read_text()
    assert "## Versions" in text and "pruned 60%" in text and "★" in text
    for name in ("pareto.png", "sparsity.png"):
        assert f"]({name})" in text
        image = QImage(str(folder / name))
        assert not image.isNull() and image.width() >= 600
    assert "Wrote the report" in window.statusBar().currentMessage()
