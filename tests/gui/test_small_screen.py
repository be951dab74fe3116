"""The window on a 1366 × 768 laptop: the Compress sheets fit their dock (no field, arrow or choice
cut), charts are tall enough and their titles, legends and labels whole, the empty Run panel small,
and status messages readable."""

import pytest
from conftest import LOAD_TIMEOUT_MS
from PySide6.QtCore import QPoint, QRectF, QSize
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStyle,
    QStyleOptionComboBox,
)

from studio.gui.run.live_charts import MIN_CHART_HEIGHT

LAPTOP = (1366, 768 - 60)  # the screen less a desktop's panel and the window's title bar


@pytest.fixture
def laptop(studio, qtbot):
    window = studio
    window.resize(*LAPTOP)
    qtbot.waitUntil(lambda: window.width() == LAPTOP[0])
    window.reset_layout()
    QApplication.processEvents()
    return window


def combo_needs(combo: QComboBox) -> int:
    """The width a combo box needs to show its longest choice whole (as QComboBox computes its size)."""
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    text = max(combo.fontMetrics().horizontalAdvance(combo.itemText(i)) for i in range(combo.count()))
    return combo.style().sizeFromContents(QStyle.ContentsType.CT_ComboBox, option, QSize(text, combo.fontMetrics().height()), combo).width()


def cut_off(sheet) -> list[str]:
    """The controls of a sheet that do not show whole within its scroll area's width."""
    scroll = sheet.findChild(QScrollArea)
    viewport = scroll.viewport()
    problems = []
    if scroll.widget().minimumSizeHint().width() > viewport.width():
        problems.append(f"the sheet needs {scroll.widget().minimumSizeHint().width()} px of {viewport.width()}")
    kinds = (QAbstractSpinBox, QComboBox, QPushButton, QLineEdit)
    for widget in scroll.widget().findChildren(QLabel) + [w for kind in kinds for w in scroll.widget().findChildren(kind)]:
        if not widget.isVisibleTo(sheet) or isinstance(widget.parent(), QAbstractSpinBox):
            continue
        left = widget.mapTo(viewport, QPoint(0, 0)).x()
        name = f"{type(widget).__name__} {getattr(widget, 'text', lambda: '')() or widget.toolTip()[:30]!r}"
        if left < 0 or left + widget.width() > viewport.width():
            problems.append(f"{name} sticks out")
        elif isinstance(widget, QLabel):
            if not widget.wordWrap() and widget.sizeHint().width() > widget.width():
                problems.append(f"{name} is cut")
        elif widget.width() < widget.minimumSizeHint().width():
            problems.append(f"{name} is squeezed")
        elif isinstance(widget, QComboBox) and widget.width() < combo_needs(widget):
            problems.append(f"{name} cuts a choice")
    return problems


@pytest.mark.parametrize("name", ["prune", "quantize", "distill"])
def test_each_compress_sheet_fits_its_dock(laptop, name):
    sheet = laptop.compression.open_sheet(name)
    QApplication.processEvents()
    assert not cut_off(sheet)


def test_the_sheets_of_an_onnx_model_fit_too(laptop, load, model_files):
    load(laptop, model_files["onnx"])
    for name in ("prune", "quantize", "distill"):
        sheet = laptop.compression.open_sheet(name)
        QApplication.processEvents()
        assert not cut_off(sheet), name


def inside(plot, item) -> bool:
    return QRectF(plot.rect()).adjusted(-5, -5, 5, 5).contains(item.mapRectToScene(item.boundingRect()))  # (its margins)


def test_charts_after_a_run_are_tall_and_whole(laptop, run_sheet, qtbot):
    window = laptop

    def configure(sheet):
        sheet.form.set_value("sparsity", 0.6)
        sheet.finetune.set_value("epochs", 1)

    run_sheet(window, "prune", configure)
    dock = window.compression.run_dock.widget()
    qtbot.waitUntil(lambda: dock.has_charts and all(p.height() >= MIN_CHART_HEIGHT for p in dock.charts.plots.values()))
    for name, plot in dock.charts.plots.items():
        legend = dock.charts.legends[name]
        assert legend.sizeHint().width() <= legend.width(), f"the {name} legend is cut: {legend.text()}"
        for side in ("left", "bottom"):
            assert inside(plot, plot.getAxis(side).label), f"the {name} chart's {side} title is cut"

    pareto = window.compression.versions.pareto
    window.compression.versions_dock.raise_()
    qtbot.waitUntil(lambda: pareto.plot.isVisible() and pareto.plot.height() >= 150)
    assert pareto.caption.sizeHint().width() <= pareto.caption.width()
    # the key on one line: beside the title and the axis choice it wrapped "beaten" onto a second one
    assert pareto.legend.heightForWidth(pareto.legend.width()) <= pareto.legend.fontMetrics().lineSpacing() + 2, pareto.legend.text()
    box = pareto.plot.getViewBox().sceneBoundingRect().adjusted(-3, -3, 3, 3)  # (a text item's margins)
    names = lambda: {n for label in pareto.labels for n in label.textItem.toPlainText().split(", ")}  # noqa: E731
    qtbot.waitUntil(lambda: names() == {"v0", "v1", "v2"})
    for label in pareto.labels:  # v0, the largest and most accurate, was cut off at the chart's top
        assert box.contains(label.sceneBoundingRect()), label.textItem.toPlainText()


def test_a_long_version_label_takes_more_lines_not_an_ellipsis(laptop, run_sheet, qtbot):
    window = laptop
    run_sheet(window, "quantize", lambda sheet: (sheet.form.set_value("mode", "static"), sheet.form.set_value("samples", 64)))
    window.compression.versions_dock.raise_()
    tree = window.compression.versions.tree
    qtbot.waitUntil(lambda: tree.isVisible() and tree.topLevelItemCount() == 1)
    item = tree.topLevelItem(0).child(0)
    assert item.text(0).startswith("v1 int8 static (minmax, 64 samples")
    lines = -(-tree.fontMetrics().horizontalAdvance(item.text(0)) // (tree.columnWidth(0) - 2 * tree.indentation()))
    assert lines > 1 and tree.visualItemRect(item).height() >= lines * tree.fontMetrics().lineSpacing()


def test_the_run_panel_with_nothing_to_show_is_small_and_says_it_once(laptop, run_sheet, load, qtbot):
    window = laptop
    run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    run_dock, dock = window.compression.run_dock, window.compression.run_dock.widget()
    qtbot.waitUntil(lambda: dock.has_charts)
    load(window, "sample:lenet-300-100")
    qtbot.waitUntil(lambda: not window.compression.session.running, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: run_dock.height() <= 130)  # not a third of the screen
    assert run_dock.isVisible() and dock.charts_holder.message.startswith("Run a compression")
    assert dock.message.text() == "Nothing running."  # what to do is said once, in the middle


def test_a_status_message_gets_the_whole_bar(laptop, run_sheet, qtbot):
    window = laptop
    run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    assert window.statusBar().currentMessage().startswith("Made v1 pruned 80%")
    assert not window.model_status.isVisible()  # beside it, the message was cut mid-word
    window.statusBar().clearMessage()
    assert window.model_status.isVisible()


def test_one_epoch_is_one_epoch(laptop):
    sheet = laptop.compression.open_sheet("prune")
    epochs = sheet.finetune.widgets["epochs"]
    sheet.finetune.set_value("epochs", 1)
    assert epochs.text() == "1 epoch"
    sheet.finetune.set_value("epochs", 2)
    assert epochs.text() == "2 epochs"


def test_versions_at_one_spot_of_the_pareto_chart_share_a_label(qtbot):
    from types import SimpleNamespace

    from studio.gui.versions.pareto_chart import ParetoChart

    chart = ParetoChart()
    qtbot.addWidget(chart)
    versions = {0: SimpleNamespace(metrics={"size_bytes": 2_000_000, "zip_bytes": 1_800_000, "accuracy": 0.98}),
                1: SimpleNamespace(metrics={"size_bytes": 500_000, "zip_bytes": 400_000, "accuracy": 0.97}),
                2: SimpleNamespace(metrics={"size_bytes": 500_000, "zip_bytes": 401_500, "accuracy": 0.97})}  # 0.4 % apart
    chart.show_versions(versions, 2)
    assert sorted(label.textItem.toPlainText() for label in chart.labels) == ["v0", "v1, v2"]  # not "v2" drawn over "v1"


def test_an_analysis_leaves_the_run_panel_small_and_says_where_its_result_is(laptop, qtbot):
    from conftest import RUN_TIMEOUT_MS
    from PySide6.QtCore import Qt

    window = laptop
    sheet = window.compression.open_sheet("prune")
    with qtbot.waitSignal(window.compression.session.runner.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(sheet.analyse, Qt.MouseButton.LeftButton)
    run_dock = window.compression.run_dock
    qtbot.waitUntil(lambda: run_dock.isVisible() and run_dock.height() <= 130)  # no charts to show: a few lines
    assert "Layers table" in run_dock.widget().message.text()
