"""The "Make it smaller" sheet: the goal in a few plain fields (smaller by, faster by, the most accuracy to
give up, a time budget), then, while the search runs, the time left and the candidates done, every candidate
in a table as it finishes, and at the end whether the goal was met, how close it came and what would likely
get there. The search itself is run by AutoSearch (auto_search.py); this sheet only shows it."""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QPushButton

from studio.core.errors import StudioError
from studio.gui.compress.auto_job import clock
from studio.gui.compress.candidates_table import CandidatesTable
from studio.gui.compress.compress_sheet import Sheet

if TYPE_CHECKING:
    from studio.core.project.auto_goal import Goal
    from studio.core.project.auto_result import AutoResult, SearchProgress

BUYS = ("Give the goal: it tries quantization, pruning, fine-tuning and distillation, measures each try in "
        "ONNX Runtime and keeps the best as a new version.")
NOT_ASKED = "not asked"
IDLE = "Set the goal, then start: the table fills with each candidate as it is measured."
TICK_MS = 1000


def _factor(tip: str, value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(1.0, 1000.0)
    box.setDecimals(1)
    box.setSingleStep(0.5)
    box.setSuffix(" ×")
    box.setSpecialValueText(NOT_ASKED)  # shown at 1×: this part of the goal is left out
    box.setValue(value)
    box.setToolTip(tip)
    return box


class AutoPanel(Sheet):
    title = "Make it smaller"
    stopRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.buys.setText(BUYS)
        self.run_button.setText("Start the search")
        self.smaller = _factor("How many times smaller the exported file should be, zipped (what a download or an app "
                               "carries), than this version's ONNX file. At 1: not asked.", 4.0)
        self.faster = _factor("How many times faster it should run in ONNX Runtime, one example at a time, on this "
                              "machine and your data, than this version does. At 1: not asked.", 1.0)
        self.drop = QDoubleSpinBox()
        self.drop.setRange(0.0, 100.0)
        self.drop.setDecimals(1)
        self.drop.setSingleStep(0.5)
        self.drop.setValue(1.0)
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.5, 24 * 60)
        self.budget.setDecimals(1)
        self.budget.setSingleStep(1.0)
        self.budget.setValue(5.0)
        self.budget.setSuffix(" min")
        self.budget.setToolTip("How long to search. When it runs out (or you stop it), the best found so far is kept.")
        form = QFormLayout()
        form.addRow("Smaller by", self.smaller)
        form.addRow("Faster by", self.faster)
        self.drop_label = QLabel()
        form.addRow(self.drop_label, self.drop)
        form.addRow("Time budget", self.budget)

        self.status = QLabel(IDLE)  # time left, candidates done
        self.status.setWordWrap(True)
        self.status.setToolTip("Time left of the budget, and how many candidates are done of those planned so far")
        self.stop = QPushButton("Stop, keep the best")
        self.stop.setToolTip("End the search now: the candidate under way stops, and the best so far becomes a new version")
        self.stop.clicked.connect(self.stopRequested)
        self.stop.hide()
        line = QHBoxLayout()
        line.addWidget(self.status, 1)
        line.addWidget(self.stop)
        self.table = CandidatesTable()
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setToolTip("How the search ended")
        self.verdict.hide()
        self.body.addLayout(form)
        self.body.addLayout(line)
        self.body.addWidget(self.table, 1)
        self.body.addWidget(self.verdict)
        self.show_metric("accuracy")
        self._ends_at = 0.0
        self._counts = ""
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def show_metric(self, metric: str) -> None:
        """Accuracy with labels; without, agreement with this version (how often the result answers the same)."""
        self.drop.setSuffix(" pt")
        self.drop_label.setText(f"{metric.capitalize()} lost, at most")
        self.drop.setToolTip("The most accuracy the result may lose, in percentage points (1: 97.8 % may become 96.8 %)"
                             if metric == "accuracy" else
                             "Without labels: how much less often than always the result may give the same answer as "
                             "this version, in percentage points (1: it agrees on at least 99 % of the examples)")
        self.drop_label.setToolTip(self.drop.toolTip())

    def goal(self) -> Goal:
        from studio.core.project.auto_goal import Goal

        smaller, faster = self.smaller.value(), self.faster.value()
        if smaller <= 1.0 and faster <= 1.0:
            raise StudioError("say what to aim for: smaller by, faster by, or both (more than 1 ×)")
        return Goal(smaller if smaller > 1.0 else None, faster if faster > 1.0 else None, self.drop.value(),
                    self.budget.value() * 60)

    def steps(self) -> list[tuple[str, dict]]:
        raise StudioError("a search is started with Start the search, not as steps")

    # ---- the search going on ------------------------------------------------------------------

    def begin(self, goal: Goal, metric: str) -> None:
        self.table.start(metric, "zip_bytes" if goal.size == "zip" else "size_bytes")
        self.verdict.hide()
        self._ends_at, self._counts = time.monotonic() + goal.budget_s, "starting"
        self.set_searching(True)

    def set_searching(self, searching: bool) -> None:
        self.stop.setVisible(searching)
        self.stop.setEnabled(searching)
        if searching:
            self._tick()
            self._timer.start()
        else:
            self._timer.stop()

    def stopping(self) -> None:
        self.stop.setEnabled(False)
        self._counts += "; stopping with the best so far…"
        self._tick()

    def show_progress(self, event: SearchProgress) -> None:
        self._ends_at = time.monotonic() + max(event.total - event.step, 0)
        stopping = self._counts.endswith("…")
        self._counts = f"{event.done} of {max(event.planned, event.done)} candidates done"
        self._counts += "; stopping with the best so far…" if stopping else ""
        if event.candidate is not None:
            self.table.add(event.candidate)
        if event.best < self.table.rowCount():  # a row per candidate, in the order of their indices
            self.table.mark_best(event.best)

    def _tick(self) -> None:
        left = self._ends_at - time.monotonic()
        head = f"<b>{clock(left)}</b> left" if left > 0 else "<b>Time is up</b>: finishing"
        self.status.setText(f"{head} · {self._counts}")

    def show_result(self, result: AutoResult, added: str) -> None:
        """The verdict in plain words: met or not, how close, what would likely get there, what was added."""
        self.set_searching(False)
        best = result.best
        self.status.setText(f"Done in {clock(result.elapsed_s)} · {len(result.candidates) - 1} candidates tried")
        if best.index < self.table.rowCount():
            self.table.mark_best(best.index)
            QTimer.singleShot(0, self, lambda: self.table.scrollToItem(self.table.item(best.index, 0)))  # once the verdict is laid out
        colour = "#2b8a3e" if result.met else "#9c5700"
        head = "Goal met" if result.met else "Goal not met"
        how = {"met": "", "budget": " The time budget ran out.", "cancelled": " Stopped before the end.",
               "searched": " Nothing left to try could do better."}[result.stopped]
        if result.met:
            text = f"Best: {html.escape(best.name)} ({_measures(best.metrics)})."
        elif best.index:
            text = f"The closest: {html.escape(best.name)} ({html.escape(best.reason or best.status)})."
        else:
            text = "Nothing tried did better than the version it started from."
        advice = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
        self.verdict.setText(f"<b style='color:{colour}'>{head}.</b> {text}{how}"
                             + (f" {html.escape(added)}" if added else "") + (f"<ul style='margin:2px'>{advice}</ul>" if advice else ""))
        self.verdict.setToolTip(result.summary())
        self.verdict.show()

    def show_failure(self, text: str) -> None:
        self.set_searching(False)
        self.status.setText(text)


def _measures(m: dict) -> str:
    """"11× smaller, 1.5× faster, 0.8 pt lost": how a candidate stands against the start."""
    parts = [f"{m['smaller']:.1f}× smaller"] if "smaller" in m else []
    if m.get("speedup") is not None:
        parts.append(f"{m['speedup']:.1f}× faster" if m["speedup"] >= 1 else f"{1 / m['speedup']:.1f}× SLOWER")
    if m.get("drop") is not None:
        parts.append(f"{m['drop']:.1f} pt lost")
    return ", ".join(parts)
