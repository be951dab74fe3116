"""The Versions dock: the tree, selecting, renaming, deleting, comparing, the Pareto chart, and the
recipe of a version replayed headless."""

import numpy as np
import yaml
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from studio.core.process.jobs import run_to_end
from studio.core.project.recipe import load_recipe, run_recipe
from studio.gui.common.metric_text import version_size


def prune(sparsity, epochs=0):
    def configure(sheet):
        sheet.form.set_value("sparsity", sparsity)
        sheet.finetune.set_value("epochs", epochs)

    return configure


def tree_labels(panel):
    out = []

    def walk(item, depth):
        out.append("  " * depth + item.text(0))
        for i in range(item.childCount()):
            walk(item.child(i), depth + 1)

    for i in range(panel.tree.topLevelItemCount()):
        walk(panel.tree.topLevelItem(i), 0)
    return out


def test_versions_tree_select_rename_delete_and_compare(studio, run_sheet, qtbot, monkeypatch):
    window = studio
    session, panel = window.compression.session, window.compression.versions
    run_sheet(window, "prune", prune(0.5))
    run_sheet(window, "prune", prune(0.9))
    assert tree_labels(panel) == ["v0 original", "  v1 pruned 50%", "    v2 pruned 90%"]
    assert panel.tree.currentItem().text(0) == "v2 pruned 90%"
    assert panel.tree.currentItem().text(3).endswith(" %")

    v0 = panel.tree.topLevelItem(0)
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        panel.tree.setCurrentItem(v0)
    assert session.current == 0 and window.info.model is session.history.versions[0].model
    assert window.info.stats["fc1"].sparsity == 0
    assert panel.difference.text() == "The original: nothing to compare with."
    assert not panel.delete_button.isEnabled()

    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        session.select(2)
    panel.compare.setCurrentIndex(panel.compare.findData(0))
    assert "v2 pruned 90%</b> against v0 original: " in panel.difference.text()
    assert "zeros +" in panel.difference.text() and "zipped" in panel.difference.text()
    qtbot.waitUntil(lambda: "v0 original (outline)" in window.layer_panel.histogram.legend.text(), timeout=30_000)
    assert "v0 original (outline)" in window.model_panel.histogram.legend.text()

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("very sparse", True))
    qtbot.mouseClick(panel.rename_button, Qt.MouseButton.LeftButton)
    assert session.history.versions[2].label == "very sparse"
    qtbot.waitUntil(lambda: tree_labels(panel)[-1] == "    very sparse")  # the tree refreshes on the next turn

    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        session.select(1)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)  # v2 goes too: asked first
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tree_labels(panel) == ["v0 original"])
    assert session.current == 0


def test_pareto_chart_shows_every_version_and_clicking_selects(studio, run_sheet, qtbot):
    window = studio
    session, chart = window.compression.session, window.compression.versions.pareto
    run_sheet(window, "prune", prune(0.6))
    run_sheet(window, "quantize")
    x, y = chart.points.getData()
    assert len(x) == 3 and len(chart.labels) == 3
    sizes = {vid: v.metrics["zip_bytes"] for vid, v in session.history.versions.items()}
    assert np.allclose(sorted(10**x), sorted(sizes.values()))  # drawn on a log scale
    assert 2 in chart.front  # the int8 version is the smallest: always on the frontier
    assert chart.line.getData()[0] is not None and len(chart.line.getData()[0]) == len(chart.front)
    spot = next(s for s in chart.points.scatter.points() if s.data() == 0)
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        chart._clicked(chart.points, [spot])
    assert session.current == 0


def test_saved_recipe_replays_headless_to_the_same_version(studio, run_sheet, tmp_path, monkeypatch):
    window = studio
    session = window.compression.session
    run_sheet(window, "prune", prune(0.75, epochs=1))
    path = tmp_path / "made.yaml"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    window.compression.save_recipe_action.trigger()
    recipe = yaml.safe_load(path.read_text())
    assert recipe["model"] == "sample:digits-cnn" and recipe["data"] == "sample:digits"
    assert [next(iter(step)) for step in recipe["steps"]] == ["prune", "finetune"]
    replayed = run_to_end(run_recipe(load_recipe(str(path)))).steps[-1]
    assert replayed.metrics["nonzero_parameters"] == session.version.metrics["nonzero_parameters"]
    assert replayed.metrics["accuracy"] == session.version.metrics["accuracy"]


def test_the_status_bar_gives_the_size_of_the_version_shown(studio, run_sheet, qtbot):
    window = studio
    session = window.compression.session
    opened = window.model_status.text()
    assert opened.endswith(" on disk")  # the file (here the sample's weights) as opened
    (quantized,) = run_sheet(window, "quantize")
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        session.select(0)
    (pruned,) = run_sheet(window, "prune", prune(0.9))  # as large as the original, much smaller zipped
    sizes = {v.id: version_size(v.metrics) for v in (quantized, pruned)}
    assert len(set(sizes.values())) == 2 and quantized.metrics["size_bytes"] < session.history.versions[0].metrics["size_bytes"] / 2
    for version in (quantized, pruned, quantized):
        if session.current != version.id:
            with qtbot.waitSignal(window.modelChanged, timeout=60_000):
                session.select(version.id)
        assert window.model_status.text().endswith(f"· {version.label} · {window.info.total.parameters:,} parameters · {sizes[version.id]}")
        qtbot.waitUntil(lambda: window.model_panel.details.values["Size"].text() == sizes[version.id])  # filled on a later turn
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        session.select(0)
    assert window.model_status.text().endswith(opened.rsplit(" · ", 1)[1])


def test_the_original_is_not_analysed_again_to_draw_its_outline(studio, run_sheet, monkeypatch):
    """Its histograms were taken when it was first shown; analysing it again ran on a thread of the
    window's process, which for a 100M-parameter model held Python's lock for a third of a second."""
    compare = studio.compression.compare
    started = []
    monkeypatch.setattr(compare.runner, "start", lambda *args: started.append(args))
    def prune(sheet):
        sheet.form.set_value("sparsity", 0.5)
        sheet.finetune.set_value("epochs", 0)  # one version, made from the original

    run_sheet(studio, "prune", prune)
    assert started == []
    assert "original" in studio.model_panel.histogram.legend.text()  # the outline is the original's


def test_a_narrow_dock_keeps_the_version_names_readable(studio, run_sheet, qtbot):
    from studio.gui.versions.versions_panel import NAME_MIN

    window = studio
    panel = window.compression.versions
    run_sheet(window, "prune", prune(0.5))
    panel.tree.setFixedWidth(220)  # narrower than the names and the four numbers together
    qtbot.waitUntil(lambda: panel.tree.columnWidth(0) >= NAME_MIN)
    header = panel.tree.header()
    panel.tree.setFixedWidth(900)  # wide: the name takes what the numbers leave
    qtbot.waitUntil(lambda: panel.tree.columnWidth(0) > NAME_MIN)
    assert panel.tree.columnWidth(0) + sum(header.sectionSize(i) for i in range(1, header.count())) == panel.tree.viewport().width()
