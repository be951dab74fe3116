"""How responsive the window is: the gaps between ticks of a fast timer on the GUI thread. A gap much
longer than the tick is time in which the window could not react to the user (a long slot, or
another thread holding Python's lock). Used by the benchmarks and their tests."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QElapsedTimer, QObject, QTimer

TICK_MS = 5


@dataclass
class Stalls:
    gaps_ms: list[int]

    @property
    def longest(self) -> int:
        return max(self.gaps_ms, default=0)

    def percentile(self, p: float) -> int:
        gaps = sorted(self.gaps_ms)
        return gaps[min(len(gaps) - 1, int(p / 100 * len(gaps)))] if gaps else 0


class StallProbe(QObject):
    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._clock, self._ticks = QElapsedTimer(), []
        self._timer = QTimer(self, interval=TICK_MS)
        self._timer.timeout.connect(lambda: self._ticks.append(self._clock.elapsed()))

    def start(self) -> None:
        self._ticks = []
        self._clock.start()
        self._timer.start()

    def stop(self) -> Stalls:
        self._timer.stop()
        return Stalls([b - a for a, b in zip(self._ticks, self._ticks[1:])])
