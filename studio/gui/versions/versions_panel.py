"""The Versions dock: every version as a tree (what made it, size, accuracy), rename, delete, export,
a comparison with another version, and the Pareto chart of size against accuracy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QSplitter,
    QStyledItemDelegate,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.gui.common import metric_text
from studio.gui.common.placeholder import placeholder_in
from studio.gui.common.widgets import button
from studio.gui.versions.pareto_chart import ParetoChart

if TYPE_CHECKING:
    from studio.core.project.versions import Version
    from studio.gui.run.session import Session
    from studio.gui.versions.version_edits import VersionEdits

PARENT = -1  # the comparison's default: the version the selected one was made from
EMPTY = "Versions you make show here: the original, and one more for every prune, quantize or distill run."
COLUMNS = [("Version", "What made the version"), ("Size", "Size of its weights as stored"),
           ("Zipped", "Size once zipped: pruned zeros shrink this"),
           ("Accuracy", "On the test split of the chosen data; for a version measured without labels, how often it "
                        "gives the same answer as its parent: “82.5 % like v1”"),
           ("Speed", "Against the original: its latency over this version's, one example of the data at a time, "
                     "in the runtime both run in (— where they run in different runtimes: export both to compare)")]


QUALITY = 3  # the column of accuracy or agreement
NAME_MIN = 130  # pixels: a version's name wraps to a few readable lines, not a letter per line
AGREEMENT_TIP = ("Without labels: how often the version gives the same answer as its parent, the version it was made "
                 "from (one level up); the original has none")


class VersionsPanel(QWidget):
    exportRequested = Signal(int)
    compareChanged = Signal(object)  # the reference version's id, or None

    def __init__(self, session: Session, edits: VersionEdits, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.edits = session, edits
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels([c for c, _ in COLUMNS])
        for i, (_, tip) in enumerate(COLUMNS):
            self.tree.headerItem().setToolTip(i, tip)
        # the name takes the width the numbers leave, but never less than NAME_MIN: in a narrow dock the
        # numbers scroll sideways instead of squeezing the names to a letter per line
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.header().setStretchLastSection(False)
        self.tree.viewport().installEventFilter(self)
        for i in range(1, len(COLUMNS)):
            self.tree.header().setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setIndentation(10)  # a long chain of versions keeps its labels readable
        self.tree.setMinimumHeight(90)  # a few versions in view beside the Pareto chart on a 768-pixel screen
        self.tree.setWordWrap(True)  # a long label ("v3 int8 static (minmax, 256 samples)") takes more lines, not "…"
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.setItemDelegateForColumn(0, _WrappedLabels(self.tree))
        self.tree.header().sectionResized.connect(lambda column, *_: column == 0 and self.tree.scheduleDelayedItemsLayout())
        self.tree.setToolTip("Click a version to show it everywhere; each version is made from the one above it")
        self.tree.currentItemChanged.connect(self._picked)

        self.rename_button = button("Rename…", "Give the selected version a name of your own", self._rename)
        self.delete_button = button("Delete", "Delete the selected version and the versions made from it (never the original); "
                                    "Edit → Undo brings them back", self._delete)
        self.export_button = button("Export…", "Export the selected version as an ONNX file, measured in ONNX Runtime",
                                     lambda: self.exportRequested.emit(self.session.current))
        buttons = QHBoxLayout()
        for each in (self.rename_button, self.delete_button, self.export_button):
            buttons.addWidget(each)
        buttons.addStretch(1)

        self.compare = QComboBox()
        self.compare.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.compare.setMinimumContentsLength(8)
        self.compare.setToolTip("The version the selected one is compared with: histograms show it as an outline")
        self.compare.currentIndexChanged.connect(lambda: self._compare_changed())
        self.difference = QLabel()
        self.difference.setWordWrap(True)
        self.difference.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.difference.setToolTip("How the selected version differs from the one it is compared with")
        compare = QHBoxLayout()
        compare.addWidget(QLabel("Compare with:"))
        compare.addWidget(self.compare, 1)

        self.pareto = ParetoChart()
        self.pareto.versionClicked.connect(session.select)
        top = QWidget()
        column = QVBoxLayout(top)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.tree, 1)
        column.addLayout(buttons)
        column.addLayout(compare)
        column.addWidget(self.difference)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.pareto)
        split.setSizes([320, 240])  # on a short screen the chart keeps its least height, the tree the rest
        split.setChildrenCollapsible(False)
        content = QWidget()
        QVBoxLayout(content).addWidget(split)
        content.layout().setContentsMargins(6, 6, 6, 6)
        self._placeholder = placeholder_in(self, content, EMPTY)

        self._refresh_timer = QTimer(self, singleShot=True, interval=0)  # a run's end emits both signals: one refresh
        self._refresh_timer.timeout.connect(self.refresh)
        session.versionsChanged.connect(self._refresh_timer.start)
        session.currentChanged.connect(lambda _: self._refresh_timer.start())

    def refresh(self) -> None:
        history = self.session.history
        if history is None:
            self._placeholder.show_message(EMPTY)
            return
        self._placeholder.show_content()
        self.tree.blockSignals(True)
        self.tree.clear()
        items: dict[int, QTreeWidgetItem] = {}
        kinds = {score[0] for v in history.versions.values() if (score := metric_text.score(v.metrics))}
        self._name_quality(kinds)
        for vid, version in sorted(history.versions.items()):
            parent = history.versions.get(version.parent)
            named = None if parent is None else metric_text.short_name(parent)
            item = QTreeWidgetItem([version.label, *_columns(version.metrics, named if len(kinds) > 1 else None)])
            item.setData(0, Qt.ItemDataRole.UserRole, vid)
            for column in range(len(COLUMNS)):
                item.setToolTip(column, f"{version.label}\n{metric_text.summary(version.metrics, named)}")
                if column:
                    item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            (items[version.parent].addChild(item) if version.parent in items else self.tree.addTopLevelItem(item))
            items[vid] = item
        self.tree.expandAll()
        self._fit_names()
        if self.session.current in items:
            self.tree.setCurrentItem(items[self.session.current])
        self.tree.blockSignals(False)
        self._fill_compare()
        self.pareto.show_versions(history.versions, self.session.current)
        version = self.session.version
        self.delete_button.setEnabled(version is not None and version.parent is not None)
        self.rename_button.setEnabled(version is not None)
        self.export_button.setEnabled(version is not None)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.tree.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_names()
        return super().eventFilter(watched, event)

    def _fit_names(self) -> None:
        header = self.tree.header()
        numbers = sum(header.sectionSize(i) for i in range(1, header.count()))
        header.resizeSection(0, max(NAME_MIN, self.tree.viewport().width() - numbers))

    def _name_quality(self, kinds: set[str]) -> None:
        """The quality column is accuracy, or, without labels, agreement with the parent (one level up in
        the tree); with both kinds in the tree (the data changed), each agreement names its parent."""
        header = self.tree.headerItem()
        if kinds == {"agreement"}:
            header.setText(QUALITY, "Agreement")
            header.setToolTip(QUALITY, AGREEMENT_TIP)
        else:
            header.setText(QUALITY, COLUMNS[QUALITY][0])
            header.setToolTip(QUALITY, COLUMNS[QUALITY][1])

    def reference(self) -> Version | None:
        """The version the current one is compared with."""
        chosen, version = self.compare.currentData(), self.session.version
        if version is None:
            return None
        vid = version.parent if chosen in (None, PARENT) else chosen
        return self.session.history.versions.get(vid) if vid != version.id else None

    def _fill_compare(self) -> None:
        chosen = self.compare.currentData()
        self.compare.blockSignals(True)
        self.compare.clear()
        self.compare.addItem("the version it was made from", PARENT)
        for vid, version in sorted(self.session.history.versions.items()):
            self.compare.addItem(version.label, vid)
        self.compare.setCurrentIndex(max(0, self.compare.findData(chosen)))
        self.compare.blockSignals(False)
        self._compare_changed()

    def _compare_changed(self) -> None:
        reference, version = self.reference(), self.session.version
        if reference is None or version is None:
            self.difference.setText("The original: nothing to compare with." if version is not None and version.parent is None else "")
        else:
            agrees = metric_text.short_name(reference) if reference.id == version.parent else None  # measured against its parent only
            self.difference.setText(f"<b>{version.label}</b> against {reference.label}: "
                                    f"{metric_text.differences(version.metrics, reference.metrics, agrees)}")
        self.compareChanged.emit(None if reference is None else reference.id)

    def _picked(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        if item is not None:
            self.session.select(item.data(0, Qt.ItemDataRole.UserRole))

    def _rename(self) -> None:
        version = self.session.version
        label, ok = QInputDialog.getText(self, "Rename version", "New name:", text=version.label)
        if ok and label.strip():
            self.edits.rename(version.id, label.strip())

    def _delete(self) -> None:
        """Deleting the versions made from the selected one too is asked first, saying how many."""
        version = self.session.version
        made = len(self.session.family(version.id)) - 1
        if made:
            answer = QMessageBox.question(
                self, "Delete versions?",
                f"Delete {version.label} and the {made} version{'s' * (made > 1)} made from it? Edit → Undo brings them back.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.edits.delete(version.id)


def _columns(metrics: dict, parent: str | None) -> list[str]:
    if not metrics:
        return ["…", "…", "…", "…"]
    speedup = metrics.get("speedup")
    speed = "—" if speedup is None else "≈1×" if 0.9 < speedup < 1.1 else f"{speedup:.2f}×"  # within timing noise
    return [metric_text.human_bytes(metrics["size_bytes"]), metric_text.human_bytes(metrics["zip_bytes"]),
            metric_text.quality(metrics, parent), speed]


class _WrappedLabels(QStyledItemDelegate):
    """Rows as tall as their label needs at the column's width: Qt wraps the text it paints, but sizes
    the rows of a tree for one line."""

    MARGIN = 12  # the item's own margins and the decoration's, in pixels

    def __init__(self, tree: QTreeWidget):
        super().__init__(tree)
        self.tree = tree

    def sizeHint(self, option, index) -> QSize:
        hint = super().sizeHint(option, index)
        depth, parent = 0, index.parent()
        while parent.isValid():
            depth, parent = depth + 1, parent.parent()
        width = self.tree.columnWidth(0) - self.tree.indentation() * (depth + 1) - self.MARGIN
        text = option.fontMetrics.boundingRect(QRect(0, 0, max(width, 20), 100_000), Qt.TextFlag.TextWordWrap, str(index.data()))
        return QSize(hint.width(), max(hint.height(), text.height() + 4))
