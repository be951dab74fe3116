"""Compression in the window: the Prune / Quantize / Distill / Make it smaller / Export actions, the Data and
Device choices, the Compress sheet, the Run dock and the Versions dock, the project files and the
Edit menu, wired to one Session. It joins the window only through the window's public interface
(add_dock, make_action, add_file_actions, add_menu, add_tool_items, add_guard and its signals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QKeySequence

from studio.gui.common import dialogs, metric_text
from studio.gui.common.placeholder import Placeholder
from studio.gui.compress.auto_panel import AutoPanel
from studio.gui.compress.auto_search import AutoSearch
from studio.gui.compress.compress_sheet import CompressSheet
from studio.gui.compress.data_check import DataCheck
from studio.gui.compress.data_picker import DataPicker
from studio.gui.compress.distill_panel import DistillPanel
from studio.gui.compress.prune_panel import PrunePanel, sensitivity_job
from studio.gui.compress.quantize_panel import QuantizePanel
from studio.gui.profile.profiling import Profiling
from studio.gui.run.run_dock import RunDock
from studio.gui.run.session import Session
from studio.gui.versions.compare import Compare
from studio.gui.versions.export_dialog import ExportDialog, default_path
from studio.gui.versions.project_files import ProjectFiles
from studio.gui.versions.unsaved import UnsavedWork
from studio.gui.versions.version_edits import VersionEdits
from studio.gui.versions.versions_panel import VersionsPanel

if TYPE_CHECKING:
    from studio.core.project.analysis import ModelInfo
    from studio.gui.compress.compress_sheet import Sheet

NO_MODEL = "Open a model first: File → Open…, or a sample from Samples ▾"
SHEET_HINT = ("Choose Prune, Quantize or Distill in the toolbar (or the Compress menu) to set up a compression here, "
              "or Make it smaller to give a goal and let the studio find the recipe.")
RAISE_MS = 30  # after a run, the Versions dock comes to the front, then the Layer dock
NOTICE_MS = 15_000  # a notice stays this long in the status bar (the data's stays in its banner)
RUN_HEIGHT = 225  # the Run dock with its charts (each at least MIN_CHART_HEIGHT tall)
RUN_EMPTY_HEIGHT = 100  # and with a line saying what would show there: not a third of a 768-pixel screen
BUSY = "A run is going on: wait for it to end, or cancel it in the Run panel"
ACTIONS = {  # sheet: (text, tooltip, the capabilities of which one is enough)
    "prune": ("&Prune", "Set the least important weights or channels to zero (remove them)", ("prune_unstructured", "prune_structured")),
    "quantize": ("&Quantize", "Store weights (and activations) in fewer bits: int8, fp16 or 4-bit", ("quantize",)),
    "distill": ("&Distill", "Train a smaller student model to imitate this one", ("distill_teacher",)),
    "auto": ("Make it &smaller", "Give a goal (how much smaller or faster, how much accuracy it may cost, how long to look): "
             "the studio searches for the recipe and keeps the best", ("quantize", "prune_unstructured", "prune_structured")),
}


class Compression(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.session = Session(window)
        self.edits = VersionEdits(self.session, self)
        self.export_dialog: ExportDialog | None = None
        self.sheet = CompressSheet({"prune": PrunePanel, "quantize": QuantizePanel, "distill": DistillPanel, "auto": AutoPanel})
        self.sheet.sheetBuilt.connect(self._sheet_built)
        self.sheet_holder = Placeholder(self.sheet, SHEET_HINT)
        self.versions = VersionsPanel(self.session, self.edits)
        self.versions.exportRequested.connect(self.export)
        self.versions_dock = window.add_dock("Versions", "versions_dock", self.versions, Qt.DockWidgetArea.LeftDockWidgetArea,
                                             tab_with=window.model_dock, size=400)
        self.compress_dock = window.add_dock("Compress", "compress_dock", self.sheet_holder, Qt.DockWidgetArea.RightDockWidgetArea,
                                             tab_with=window.layer_dock)
        self.run_dock = window.add_dock("Run", "run_dock", RunDock(self.session), Qt.DockWidgetArea.BottomDockWidgetArea,
                                        size=RUN_HEIGHT)
        self.run_dock.hide()  # until the first run: a window without it fits a small screen
        self.run_dock.widget().chartsShown.connect(lambda _: self._fit_run_dock())
        self.auto = AutoSearch(self, self._show_run_dock)  # the Make it smaller sheet's search
        self.compare = Compare(window, self.session, self.versions)
        self.files = ProjectFiles(window, self.session)
        self.unsaved = UnsavedWork(window, self.session, self.files)
        window.add_guard(self.unsaved.ask)
        window.aboutToClose.connect(self.files.discard_autosave)
        window.modelClosed.connect(self._model_closed)
        self.picker = DataPicker()
        window.add_banner(self.picker.status)
        self.data_check = DataCheck(self.session, self.picker, self)
        self.picker.dataChanged.connect(self.session.set_data)
        self.picker.deviceChanged.connect(lambda device: setattr(self.session, "device", device))
        self.session.dataChanged.connect(self.picker.set_spec)
        self.profiling = Profiling(window, self.session, self._show_run_dock, self)  # the Time tab
        self.profiling.profiled.connect(self.files.autosave_if_edited)  # a project keeps its profiles
        self._build_actions()
        self._build_menus()
        self._build_toolbar()

        window.modelChanged.connect(self._model_shown)
        self.session.currentChanged.connect(self._current_changed)
        self.session.versionsChanged.connect(self._versions_changed)
        self.session.runFinished.connect(self._ran)
        self.session.failed.connect(self._failed)
        self.session.noticed.connect(lambda text: self.window.statusBar().showMessage(text, NOTICE_MS))
        self.session.outputAsked.connect(self.ask_output)
        self.output_dialog: dialogs.OutputDialog | None = None
        self.session.runner.runningChanged.connect(lambda _: self._update())
        self._update()
        QTimer.singleShot(0, self.files.offer_restore)

    # ---- building -------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        w = self.window
        self.actions = {name: w.make_action(text, tip, lambda _=False, n=name: self.open_sheet(n)) for name, (text, tip, _) in ACTIONS.items()}
        self.export_action = w.make_action("&Export…", "Export the current version as an ONNX file, measured in ONNX Runtime",
                                           lambda: self.export(self.session.current), "Ctrl+E")
        self.save_recipe_action = w.make_action("Save &Recipe…", "Save the steps that made the current version as a recipe "
                                                "(studio run replays it)", self.files.save_recipe)
        self.save_project_action = w.make_action("&Save Project…", "Save every version, the data choice and the charts in a folder",
                                                 lambda: self.files.save_project(), QKeySequence.StandardKey.Save)
        self.open_project_action = w.make_action("Open &Project…", "Open a project folder saved earlier, with all its versions "
                                                 "(asks to save unsaved work)", self.open_project)
        self.report_action = w.make_action("Export Re&port…", "Write a report of every version (table, Pareto chart, zeros "
                                           "per layer) as Markdown with PNG charts", self.export_report)
        self.undo_action = self.edits.stack.createUndoAction(w, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_action.setStatusTip("Undo the last rename or deletion of a version")
        self.redo_action = self.edits.stack.createRedoAction(w, "&Redo")
        self.redo_action.setShortcut(QKeySequence.StandardKey.Redo)
        self.redo_action.setStatusTip("Redo the rename or deletion just undone")

    def _build_menus(self) -> None:
        w = self.window
        w.add_file_actions([self.open_project_action, self.save_project_action, self.save_recipe_action, self.report_action])
        edit = w.add_menu("&Edit", before=w.view_menu)
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)
        menu = w.add_menu("&Compress")
        for action in self.actions.values():
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.profiling.action)
        menu.addAction(self.export_action)

    def _build_toolbar(self) -> None:
        self.window.add_tool_items([None, *self.actions.values(), None, self.export_action, None, self.picker])

    # ---- actions --------------------------------------------------------------------------------

    def open_sheet(self, name: str) -> Sheet:
        sheet = self.sheet.show_sheet(name)
        self.sheet_holder.show_content()
        self.compress_dock.show()
        self.compress_dock.raise_()
        return sheet

    def run(self, sheet: Sheet) -> None:
        from studio.core.errors import StudioError

        try:
            self.session.run(sheet.steps())
        except StudioError as e:
            dialogs.show_error(self.window, f"Cannot {sheet.title.lower()} yet", str(e))
            return
        self._show_run_dock()

    def _show_run_dock(self) -> None:
        self.run_dock.show()
        self._fit_run_dock()

    def _fit_run_dock(self) -> None:
        """As tall as its charts need, or, with none to show, a few lines: not a third of a small screen."""
        self.window.resize_dock(self.run_dock, RUN_HEIGHT if self.run_dock.widget().has_charts else RUN_EMPTY_HEIGHT)

    def analyse(self, target: float) -> None:
        panel, version = self.sheet.sheets["prune"], self.session.version

        def analysed(result) -> None:
            panel.show_sensitivity(result, metric_text.short_name(version))
            self.run_dock.widget().message.setText(f"Analysed how much each layer of {version.label} can be pruned: the Prune "
                                                   f"sheet's Layers table holds the sparsities suggested, its chart the measures.")

        self.session.start(f"analysing sensitivity for {target:.0%}", analysed, sensitivity_job,
                           version.model, self.session.data, self.session.device)
        self._show_run_dock()

    def export(self, vid: int) -> None:
        version = self.session.history.versions[vid]
        if self.export_dialog is not None:
            self.export_dialog.close()
            self.export_dialog.deleteLater()
        self.export_dialog = ExportDialog(self.session, version, default_path(self.session.history, version), self.window)
        self.export_dialog.show()

    def open_project(self) -> None:
        if self.window.may_replace_work("opening a project"):
            self.files.open_project()

    def ask_output(self, problem: str) -> None:
        """Several outputs could hold the data's classes: ask which (or none), then keep the answer in
        the data spec, so measuring, compressing and exporting all use it."""
        from studio.core.project.workspace import spec_name as _name

        version = self.session.version
        if version is None or self.session.data is None:
            return
        if self.output_dialog is not None:
            if self.output_dialog.isVisible():  # asked already
                return
            self.output_dialog.deleteLater()
        dialog = self.output_dialog = dialogs.OutputDialog(self.window, _name(self.session.data), version.model.outputs, problem)
        dialog.accepted.connect(lambda: self._output_chosen(dialog.choice()))
        dialog.rejected.connect(lambda: self.window.statusBar().showMessage(
            "Not measured: name the output that holds the classes (Classes in: in the toolbar), or choose no labels", 15000))
        dialog.open()

    def _output_chosen(self, output: str | None) -> None:
        from studio.core.project.workspace import with_output

        spec = with_output(self.session.data, output, labeled=output is not None)
        if self.session.history is not None and list(self.session.history.versions) != [0]:
            self.window.statusBar().showMessage("Chosen; the next run measures on it", 8000)
        self.session.set_data(spec)

    def export_report(self, folder=None):
        from studio.gui.versions.report_files import export_report

        return export_report(self.window, self.session.project(), folder)

    # ---- following the session and the window ---------------------------------------------------

    def _model_shown(self, info: ModelInfo) -> None:
        if not self.session.owns(info.model):  # opened from a file or a sample: a new history
            self._first_model_loaded()
            source = info.model.source
            data = self.session.data
            if source.startswith("sample:"):
                from studio.core.formats.samples import SAMPLE_MODELS

                data = "sample:" + SAMPLE_MODELS[source.removeprefix("sample:")].data
            elif isinstance(data, dict) and data.get("output") not in {o.name for o in info.model.outputs}:
                from studio.core.evaluate.data import labeled_spec
                from studio.core.project.workspace import with_output  # the output named was the last model's

                data = with_output(data, None, labeled=labeled_spec(data))
            self.session.begin(info.model, data)
            self.window.model_dock.raise_()
        self.picker.set_outputs(info.model.outputs)
        for sheet in self.sheet.sheets.values():
            sheet.show_model(info)
        self._show_precisions(info)
        self._update()

    def _first_model_loaded(self) -> None:
        """Torch has loaded (in the worker): now the sample data sets and CUDA can be listed, and jobs
        capped at all cores but one, which the window keeps."""
        import torch

        from studio.core.formats.samples import SAMPLE_DATA
        from studio.core.process.threads import leave_a_core

        leave_a_core()

        self.picker.add_samples([f"sample:{name}" for name in SAMPLE_DATA])
        self.picker.set_devices(["cpu"] + (["cuda"] if torch.cuda.is_available() else []))

    def _current_changed(self, version) -> None:
        if version is not None and (self.window.info is None or self.window.info.model is not version.model):
            size = None if version.parent is None else metric_text.version_size(version.metrics)  # the original: its file
            self.window.show_model(version.model, version.label, self.session.analysis(version.id), size)
        self._update()

    def _versions_changed(self) -> None:
        version = self.session.version
        if version is not None and self.window.info is not None and self.window.info.model is version.model:
            self.window.show_label(version.label)

    def _model_closed(self) -> None:
        self.session.close()
        self.files.forget()
        self.sheet_holder.show_message(SHEET_HINT)

    def _sheet_built(self, name: str, sheet: Sheet) -> None:
        if name == "auto":
            self.auto.attach(sheet)
        else:
            sheet.runRequested.connect(lambda: self.run(sheet))
        if name == "prune":
            sheet.analyseRequested.connect(self.analyse)
        if self.window.info is not None:
            sheet.show_model(self.window.info)
            self._show_precisions(self.window.info)
        self._update()

    def _show_precisions(self, info: ModelInfo) -> None:
        if "quantize" in self.sheet.sheets:
            self.sheet.sheets["quantize"].show_ops(info.precisions)

    def _ran(self, added: list) -> None:
        last = added[-1]
        QTimer.singleShot(RAISE_MS, self, self.versions_dock.raise_)  # each newly shown dock paints whole: one at a time
        QTimer.singleShot(2 * RAISE_MS, self, self.window.layer_dock.raise_)
        start = self.session.history.versions[added[0].parent]
        agrees = metric_text.short_name(start) if len(added) == 1 else None  # a later step's agreement is with the step before
        self.window.statusBar().showMessage(f"Made {', '.join(v.label for v in added)}: "
                                            f"{metric_text.differences(last.metrics, start.metrics, agrees)}", 15000)

    def _failed(self, doing: str, error: Exception) -> None:
        from studio.core.errors import OUT_OF_MEMORY, StudioError, first_line

        details = dialogs.error_details(error)
        if isinstance(error, StudioError):
            dialogs.show_error(self.window, f"Could not finish {doing}", str(error), details)
        elif isinstance(error, MemoryError):
            dialogs.show_error(self.window, f"Could not finish {doing}", f"{doing}: {OUT_OF_MEMORY}", details)
        else:  # a bug: one line for the user, then let it surface (and fail any test)
            dialogs.show_error(self.window, "Unexpected error", f"{doing}: {type(error).__name__}: {first_line(error)}", details)
            raise error

    def _update(self) -> None:
        """Enable what the current version allows; tooltips say why not."""
        version = self.session.version
        caps = version.model.capabilities() if version is not None else {}
        for name, action in self.actions.items():
            refusals = [caps[c].reason for c in ACTIONS[name][2] if not caps[c].allowed] if caps else [NO_MODEL]
            allowed = bool(caps) and len(refusals) < len(ACTIONS[name][2])
            action.setEnabled(allowed)
            action.setToolTip(ACTIONS[name][1] if allowed else f"{ACTIONS[name][1]}. Not possible: {refusals[0]}")
            if name in self.sheet.sheets:
                self.sheet.sheets[name].set_runnable("" if allowed and not self.session.running else (BUSY if allowed else action.toolTip()))
        self.export_action.setEnabled(version is not None)
        for action in (self.save_recipe_action, self.save_project_action, self.report_action):
            action.setEnabled(version is not None)
