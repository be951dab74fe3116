"""The studio window: one model, one current layer that every panel follows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QSplitter,
    QStyle,
    QTabWidget,
    QToolButton,
)

from studio.gui.common import dialogs
from studio.gui.common.placeholder import OPEN_HINT
from studio.gui.common.settings import settings
from studio.gui.compress.compression import Compression
from studio.gui.help.about import about_text
from studio.gui.help.getting_started import GettingStarted
from studio.gui.help.glossary_window import GlossaryWindow
from studio.gui.help.journey import make_guide
from studio.gui.inspect.graph_view import GraphView
from studio.gui.inspect.layer_panel import LayerPanel
from studio.gui.inspect.layer_table import LayerTable
from studio.gui.inspect.model_panel import ModelPanel
from studio.gui.inspect.sparsity_chart import SparsityChart
from studio.gui.inspect.weight_heatmap import WeightHeatmap
from studio.gui.run.run_status import RunStatus
from studio.gui.run.worker import JobRunner
from studio.gui.window_frame import WindowFrame

if TYPE_CHECKING:
    from studio.core.project.analysis import ModelInfo

MODEL_FILES = "Models (*.onnx *.pt *.pth *.pt2 *.ts *.jit *.safetensors *.bin *.ckpt);;All files (*)"
MAX_RECENT = 10
NO_WEIGHTS = "This model has no weights to show."
NO_MODEL = "No model open"

# Between two panels' fills: a real timer. QTimer.singleShot(0) posts an event, and Qt delivers every
# posted event (the repaints too) in one pass, so the panels filled one per "turn" still froze the
# window for their sum.
FILL_STEP_MS = 1
GUIDE_SHOWN = "help/getting_started_shown"  # the guide showed at a first start: not again unasked


def _open_job(source: str, trust: bool, cancel):
    """The File → Open job. Imports core inside the worker, so torch never loads on the GUI thread."""
    from studio.core.project import recipe, versions  # noqa: F401  the session needs them once the model shows
    from studio.core.project.analysis import open_model

    return (yield from open_model(source, trust=trust, responsive=True, cancel=cancel))


def _show_job(model, cancel):
    """Analyse a model already loaded (a version) for the panels."""
    from studio.core.project.analysis import analyze

    return (yield from analyze(model, cancel))


class MainWindow(WindowFrame):
    """The window and its inspection panels. Other panels (studio.gui.compress.compression) join it
    through WindowFrame's interface, and follow it through the signals and the public members below."""

    layerChanged = Signal(object)  # the current layer's name, or None
    modelChanged = Signal(object)  # the ModelInfo now shown
    modelClosed = Signal()  # File → New: no model is shown any more

    def __init__(self):
        super().__init__()
        self.info: ModelInfo | None = None
        self.layer: str | None = None
        self._opening: tuple[str, bool] | None = None  # the file being opened, or None when showing a version
        self._showing = ""  # the label of the version being shown
        self._showing_size: str | None = None  # and its size in words (None: the file's size on disk)
        self._heatmap_layer: str | None = None  # the layer the heatmap shows
        self.guide: GettingStarted | None = None  # Help → Getting Started, made when first shown
        self.glossary: GlossaryWindow | None = None  # Help → Glossary, likewise
        self.setWindowTitle("Compression Studio")
        self.setAcceptDrops(True)
        self.runner = JobRunner(self)
        self.runner.finished.connect(self._opened)
        self.runner.failed.connect(self._open_failed)
        self.runner.cancelled.connect(lambda: self._opening and self.statusBar().showMessage("Cancelled; the model that was open stays open.", 8000))

        self._build_views()
        self._build_actions()
        self._build_menus()
        self._build_docks()
        self._build_toolbar()
        self._build_status()
        self.compression = Compression(self)  # the Compress actions, sheet, Run and Versions docks
        self.resize(*_first_size(self))
        self._restore_settings()

    # ---- building -------------------------------------------------------------------------------

    def _build_views(self) -> None:
        self.graph = GraphView()
        self.graph.layerSelected.connect(self.select_layer)
        self.table = LayerTable()
        self.table.layerSelected.connect(self.select_layer)
        self.heatmap = WeightHeatmap()
        self.chart = SparsityChart()
        self.chart.layerSelected.connect(self.select_layer)
        self.sparsity_split = QSplitter(Qt.Orientation.Vertical)
        self.sparsity_split.setObjectName("sparsity_split")
        self.sparsity_split.addWidget(self.heatmap)
        self.sparsity_split.addWidget(self.chart)
        self.sparsity_split.setSizes([600, 250])

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for widget, title, tip in (
            (self.graph, "Graph", "The layers and how data flows between them"),
            (self.table, "Layers", "Every layer with its shape, size and share of zeros; sortable"),
            (self.sparsity_split, "Sparsity", "Where the zeros are: the current layer's weights, and every layer's share"),
        ):
            self.tabs.setTabToolTip(self.tabs.addTab(widget, title), tip)
        self.tabs.currentChanged.connect(self._show_heatmap)
        self.set_central(self.tabs)

    def add_tab(self, widget, title: str, tip: str) -> None:
        """A tab of the window's middle, after Graph, Layers and Sparsity, with its View action (Ctrl+N)."""
        index = self.tabs.addTab(widget, title)
        self.tabs.setTabToolTip(index, tip)
        self.add_view_actions([self.make_action(title, tip, lambda _=False: self.tabs.setCurrentWidget(widget), f"Ctrl+{index + 1}")])

    def _build_docks(self) -> None:
        self.model_panel = ModelPanel()
        self.model_dock = self.add_dock("Model", "model_dock", self.model_panel, Qt.DockWidgetArea.LeftDockWidgetArea, size=340)
        self.layer_panel = LayerPanel()
        self.layer_dock = self.add_dock("Layer", "layer_dock", self.layer_panel, Qt.DockWidgetArea.RightDockWidgetArea, size=380)

    def _build_actions(self) -> None:
        self.new_action = self.make_action(
            "&New", "Close the model and its versions, for an empty window (asks to save unsaved work)",
            self._new, QKeySequence.StandardKey.New, QStyle.StandardPixmap.SP_FileIcon,
        )
        self.open_action = self.make_action(
            "&Open…", "Open a model file: ONNX, TorchScript, .pt2, a torch.save file or safetensors",
            self.choose_file, QKeySequence.StandardKey.Open, QStyle.StandardPixmap.SP_DialogOpenButton,
        )
        self.open_folder_action = self.make_action(
            "Open &Folder…", "Open a Hugging Face model folder (config.json, the weights and tokenizer files), as "
            "transformers does; you can also drop a folder on the window", self.choose_folder, "Ctrl+Shift+O",
            QStyle.StandardPixmap.SP_DirOpenIcon,
        )
        self.about_action = self.make_action("&About Compression Studio", "What this program is, and the versions of it "
                                             "and of the libraries it runs on", self._about)
        self.guide_action = self.make_action("&Getting Started", "A short guide: open a model, choose data, compress it, "
                                             "compare the versions and export, each step a click away", self.show_guide,
                                             QKeySequence.StandardKey.HelpContents)
        self.glossary_action = self.make_action("G&lossary", "What the words the studio uses mean, in plain language "
                                                "(sparsity, int8, calibration, distillation…)", lambda: self.show_glossary())

    def _build_menus(self) -> None:
        self.samples_menu = QMenu("Open &Sample", self)
        self.samples_menu.setToolTipsVisible(True)
        self.samples_menu.aboutToShow.connect(self._fill_samples)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent)

        self.add_file_actions([self.new_action, self.open_action, self.open_folder_action, self.recent_menu.menuAction(),
                               self.samples_menu.menuAction()])
        self.add_view_actions([
            self.make_action(self.tabs.tabText(i), self.tabs.tabToolTip(i), lambda _=False, i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
            for i in range(self.tabs.count())
        ])
        self.help_menu.addAction(self.guide_action)
        self.help_menu.addAction(self.glossary_action)
        self.help_menu.addSeparator()
        self.help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        bar = self.toolbar
        bar.addAction(self.open_action)
        samples = QToolButton()
        samples.setText("Samples")
        samples.setToolTip("Open one of the bundled sample models, trained on handwritten digits")
        samples.setMenu(self.samples_menu)
        samples.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        samples.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.addWidget(samples)

    def _build_status(self) -> None:
        self.run_status = RunStatus()
        self.run_status.follow(self.runner)
        self.statusBar().addWidget(self.run_status)
        self.model_status = QLabel(NO_MODEL)
        self.model_status.setToolTip("The model or version shown · its parameters (weights) · its size: on disk for a file "
                                     "just opened; for a version, its weights as stored and zipped")
        self.statusBar().addPermanentWidget(self.model_status)
        # a message gets the whole bar: beside the model's line it was cut off mid-word at 1366 pixels
        self.statusBar().messageChanged.connect(lambda text: self.model_status.setVisible(not text))

    # ---- opening --------------------------------------------------------------------------------

    def open_model(self, source: str, trust: bool = False) -> None:
        """Load and analyse a file or sample:NAME in the worker; the open model stays until it is done."""
        self._opening = (source, trust)
        self.runner.start(_open_job, source, trust)

    def show_model(self, model, label: str, info: ModelInfo | None = None, size: str | None = None) -> None:
        """Show a model already loaded (a version of the open one) in every panel, analysed here unless
        its analysis is given; `size` says how large the version is (a version made in the studio has no
        file: its Model still carries the size on disk of the file it came from)."""
        self._opening, self._showing, self._showing_size = None, label, size
        if info is None:
            self.runner.start(_show_job, model)
        else:
            self.runner.cancel()
            self._opened(info)

    def show_label(self, label: str) -> None:
        """The version shown has a new name (renamed, or the rename undone)."""
        if self.info is not None and self._opening is None and label != self._showing:
            self._showing = label
            self._show_summary(self.info)

    def close_model(self) -> None:
        """Show no model: the window as it starts (File → New, once the user agreed)."""
        self.runner.cancel()
        self.info = self.layer = self._opening = self._heatmap_layer = None
        self.model_panel.clear()
        self.layer_panel.clear()
        self.table.clear()
        self.chart.clear()
        self.graph.clear()
        self.heatmap.clear(OPEN_HINT)
        self.model_status.setText(NO_MODEL)
        self.setWindowTitle("Compression Studio")
        self.modelClosed.emit()

    def _new(self) -> None:
        if self.may_replace_work("closing the model"):
            self.close_model()

    def open_asked(self, source: str) -> None:
        """Open a model the user picked (a menu, a dropped file), once unsaved work is saved or let go."""
        if self.may_replace_work("opening another model"):
            self.open_model(source)

    def choose_file(self) -> None:
        if not self.may_replace_work("opening another model"):
            return
        recent = self._recent()
        start = next((str(Path(r).parent) for r in recent if not r.startswith("sample:")), "")
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", start, MODEL_FILES)
        if path:
            self.open_model(path)

    def choose_folder(self) -> None:
        if not self.may_replace_work("opening another model"):
            return
        recent = self._recent()
        start = next((str(Path(r).parent) for r in recent if not r.startswith("sample:")), "")
        path = QFileDialog.getExistingDirectory(self, "Open a Hugging Face model folder", start)
        if path:
            self.open_model(path)

    def _opened(self, info: ModelInfo) -> None:
        """Fill the panels one per event-loop turn: each repaint stays short and the window fluid."""
        self.info, self.layer = info, None
        self._fill(info, [
            lambda: self._show_summary(info),
            lambda: self.model_panel.show_model(info, None if self._opening else self._showing_size),
            lambda: self.table.show_layers(info.layers, info.stats),
            lambda: self.chart.show_layers(info.stats),
            lambda: self.graph.show_graph(info.graph, info.stats),
            lambda: self.select_layer(info.layers[0].name if info.layers else None, force=True),
            lambda: self.modelChanged.emit(info),
        ])

    def _fill(self, info: ModelInfo, steps: list) -> None:
        if steps and self.info is info:  # a model opened meanwhile takes over
            steps[0]()
            QTimer.singleShot(FILL_STEP_MS, self, lambda: self._fill(info, steps[1:]))

    def _show_summary(self, info: ModelInfo) -> None:
        from studio.core.inspect.summary import human_bytes

        model = info.model
        if self._opening is None:
            size = self._showing_size or f"{human_bytes(model.size_bytes)} on disk"
            self.model_status.setText(f"{model.name} · {self._showing} · {info.total.parameters:,} parameters · {size}")
            self.setWindowTitle(f"{model.name} ({self._showing}) — Compression Studio")
            return
        self.model_status.setText(f"{model.name} · {info.total.parameters:,} parameters · {human_bytes(model.size_bytes)} on disk")
        self.setWindowTitle(f"{model.name} — Compression Studio")
        self.statusBar().showMessage(f"Opened {model.source}", 5000)
        self._remember(model.source)

    def _open_failed(self, error: Exception) -> None:
        from studio.core.errors import OUT_OF_MEMORY, StudioError, TrustRequired, first_line

        source = self._opening[0] if self._opening else self._showing
        if isinstance(error, TrustRequired):
            if dialogs.ask_trust(self, source, str(error)):
                self.open_model(source, trust=True)
        elif isinstance(error, StudioError):
            dialogs.show_error(self, "Could not open the model", str(error) if error.source else f"{source}: {error}",
                               dialogs.error_details(error))
        elif isinstance(error, MemoryError):
            dialogs.show_error(self, "Could not open the model", f"{source}: {OUT_OF_MEMORY}", dialogs.error_details(error))
        else:  # a bug: tell the user in one line, then let it surface (and fail any test)
            dialogs.show_error(self, "Unexpected error", f"{source}: {type(error).__name__}: {first_line(error)}",
                               dialogs.error_details(error))
            raise error

    # ---- the current layer ----------------------------------------------------------------------

    def select_layer(self, name: str | None, force: bool = False) -> None:
        """Make `name` the current layer in every panel."""
        if self.info is None or (name == self.layer and not force):
            return
        layer = self.info.layer(name) if name else None
        self.layer = layer.name if layer else None
        self.table.select_layer(self.layer)
        self.chart.select_layer(self.layer)
        self.graph.select_layer(self.layer)
        if layer is None:
            self.layer_panel.show_nothing_selected()
        else:
            self.layer_panel.show_layer(layer, self.info.stats[layer.name], self.info.histograms[layer.name])
        self._heatmap_layer = None
        self._show_heatmap()
        self.layerChanged.emit(self.layer)

    def _show_heatmap(self) -> None:
        """Draw the current layer's map when the Sparsity tab is shown (it is the costly panel)."""
        if self.tabs.currentWidget() is not self.sparsity_split or self.info is None:
            return
        if self.layer is None:
            self.heatmap.clear(NO_WEIGHTS if not self.info.layers else "Select a layer to see where its zeros are.")
        elif self._heatmap_layer != self.layer:
            name, weight = max(self.info.layer(self.layer).weights.items(), key=lambda item: item[1].size)
            self.heatmap.show_weight(name, weight)
        self._heatmap_layer = self.layer

    # ---- drag and drop --------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if _local_file(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = _local_file(event.mimeData())
        if path:
            event.acceptProposedAction()
            QTimer.singleShot(0, self, lambda: self.open_asked(path))  # any question once the drag has ended

    # ---- recent files and settings --------------------------------------------------------------

    def _recent(self) -> list[str]:
        value = settings().value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember(self, source: str) -> None:
        recent = [source] + [r for r in self._recent() if r != source]
        settings().setValue("recent", recent[:MAX_RECENT])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for source in self._recent():
            action = self.recent_menu.addAction(source, lambda s=source: self.open_asked(s))
            action.setToolTip(f"Open {source} again")
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("No recent models").setEnabled(False)

    def _fill_samples(self) -> None:
        if not self.samples_menu.isEmpty():
            return
        from studio.core.formats.samples import SAMPLE_MODELS, SAMPLE_PREFIX

        for name, spec in SAMPLE_MODELS.items():
            action = self.samples_menu.addAction(f"{name} — {spec.description}", lambda n=name: self.open_asked(SAMPLE_PREFIX + n))
            action.setToolTip(f"Open {SAMPLE_PREFIX}{name}: {spec.description}, trained on sample:{spec.data}")

    def _restore_settings(self) -> None:
        s = settings()
        if s.contains("window/geometry"):
            self.restoreGeometry(s.value("window/geometry"))
        if s.contains("window/state"):
            self.restoreState(s.value("window/state"))
            self.layout_restored = True
            self.compression.run_dock.hide()  # empty until this session's first run, which shows it at its height
        if s.contains("window/sparsity_split"):
            self.sparsity_split.restoreState(s.value("window/sparsity_split"))

    def closeEvent(self, event) -> None:
        if not self.may_close(event):
            event.ignore()
            return
        s = settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/sparsity_split", self.sparsity_split.saveState())
        self.aboutToClose.emit()
        for runner in self.findChildren(JobRunner):  # the heatmap's too: no thread outlives the window
            runner.shutdown()
        super().closeEvent(event)

    # ---- help ---------------------------------------------------------------------------------

    def offer_guide(self) -> None:
        """At start with no model: the Getting Started guide, the first time only (studio.gui.app)."""
        s = settings()
        if self.info is None and self._opening is None and not s.value(GUIDE_SHOWN, False, type=bool):
            self.show_guide()

    def show_guide(self) -> GettingStarted:
        if self.guide is None:
            self.guide = make_guide(self)
        settings().setValue(GUIDE_SHOWN, True)
        self.guide.show()
        self.guide.raise_()
        self.guide.activateWindow()
        return self.guide

    def show_glossary(self, term: str | None = None) -> GlossaryWindow:
        if self.glossary is None:
            self.glossary = GlossaryWindow(self)
        if term is None:
            self.glossary.show()
            self.glossary.raise_()
            self.glossary.activateWindow()
        else:
            self.glossary.show_term(term)
        return self.glossary

    def _about(self) -> None:
        QMessageBox.about(self, "About Compression Studio", about_text())


def _first_size(window) -> tuple[int, int]:
    """1400 × 900, or the screen's free area on a smaller screen (a 1366 × 768 laptop): a window wider
    than its screen cuts off the docks on the right."""
    screen = window.screen() or QApplication.primaryScreen()
    if screen is None:
        return 1400, 900
    free = screen.availableGeometry()
    return min(1400, free.width()), min(900, free.height())


def _local_file(mime) -> str | None:
    urls: list[QUrl] = mime.urls() if mime.hasUrls() else []
    return next((u.toLocalFile() for u in urls if u.isLocalFile()), None)

