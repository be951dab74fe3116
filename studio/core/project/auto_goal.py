"""The goal of an automatic search (`studio auto`): how much smaller and/or faster, how much accuracy may
go, and how long to look; whether a candidate's measurements meet it, how far one falls short and what
held it back, in plain words."""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.errors import StudioError

SIZES = ("zip", "file")  # what "smaller" counts: the zipped ONNX file (what is downloaded), or the file as it is
DEFAULT_BUDGET_S = 300.0
DEFAULT_MAX_DROP = 1.0
DROP_EPS = 1e-6  # points: 96.8 % after 97.8 % is a drop of 1 pt, whatever the floating point says
TIE_PT = 0.1  # drops this close count as equal when ranking candidates that meet the goal


@dataclass(frozen=True)
class Goal:
    smaller: float | None = None  # × smaller than the fp32 ONNX export of the original (on `size`)
    faster: float | None = None  # × faster than it, in ONNX Runtime at `batch` on examples of the data
    max_drop: float = DEFAULT_MAX_DROP  # points of accuracy (labels) or of agreement with the original (no labels)
    budget_s: float = DEFAULT_BUDGET_S
    size: str = "zip"
    batch: int = 1

    def __post_init__(self) -> None:
        for name in ("smaller", "faster"):
            value = getattr(self, name)
            if value is not None and not (1.0 <= value <= 1e6):
                raise StudioError(f"--{name}: expected a factor of at least 1 (e.g. 4 for four times {name}), got {value:g}")
        if self.smaller is None and self.faster is None:
            raise StudioError("say what to aim for: --smaller X and/or --faster X")
        if not 0.0 <= self.max_drop <= 100.0:
            raise StudioError(f"--max-drop: expected points from 0 to 100, got {self.max_drop:g}")
        if not 1.0 <= self.budget_s <= 7 * 86400:
            raise StudioError(f"--budget: expected seconds from 1 to 604800, got {self.budget_s:g}")
        if self.size not in SIZES:
            raise StudioError(f"--size: {self.size!r} is not one of {', '.join(SIZES)}")
        if not 1 <= self.batch <= 65536:
            raise StudioError(f"--batch: expected a whole number from 1 to 65536, got {self.batch}")

    def to_json(self, metric: str | None = None) -> dict:
        out = {"smaller": self.smaller, "faster": self.faster, "max_drop": self.max_drop, "budget_s": self.budget_s,
               "size": self.size, "batch": self.batch}
        if metric:
            out["metric"] = metric
        return out

    def describe(self) -> str:
        parts = [f"{self.smaller:g}× smaller ({'zipped' if self.size == 'zip' else 'file'})" if self.smaller else "",
                 f"{self.faster:g}× faster (batch {self.batch})" if self.faster else "",
                 f"at most {self.max_drop:g} pt lost"]
        return ", ".join(p for p in parts if p) + f", within {self.budget_s:g} s"

    # ---- judging a candidate's metrics (keys: smaller, speedup, drop) ----

    def gaps(self, m: dict) -> dict[str, float]:
        """How far short of each part of the goal, as a share of it (0: met)."""
        out = {}
        if self.smaller:
            out["smaller"] = max(0.0, 1.0 - m.get("smaller", 0.0) / self.smaller)
        if self.faster:
            out["faster"] = max(0.0, 1.0 - (m.get("speedup") or 0.0) / self.faster)
        drop = m.get("drop")
        over = None if drop is None else drop - self.max_drop
        out["drop"] = 1.0 if over is None else (over / max(self.max_drop, 1.0) if over > DROP_EPS else 0.0)
        return out

    def met(self, m: dict) -> bool:
        return not any(self.gaps(m).values())

    def margin(self, m: dict) -> float:
        """How far past the size and speed asked (1: exactly there): the worst of the two."""
        ratios = []
        if self.smaller:
            ratios.append(m.get("smaller", 0.0) / self.smaller)
        if self.faster:
            ratios.append((m.get("speedup") or 0.0) / self.faster)
        return min(ratios)

    def key(self, m: dict) -> tuple:
        """Sorts candidates best first: those that meet the goal by least accuracy lost, then one that does
        not run slower than the original, then how far past the goal; the others by how far short they fall."""
        if self.met(m):
            return (0, round(m["drop"] / TIE_PT), slower(m), -self.margin(m))
        return (1, sum(self.gaps(m).values()), m.get("drop") if m.get("drop") is not None else 1e9)

    def held_back(self, m: dict) -> str:
        """What kept a candidate from the goal, in words; empty when it meets it."""
        g, parts = self.gaps(m), []
        if g.get("smaller"):
            parts.append(f"{m.get('smaller', 0):.1f}× smaller of the {self.smaller:g}× asked")
        if g.get("faster"):
            parts.append(f"{m.get('speedup') or 0:.2f}× faster of the {self.faster:g}× asked")
        if g.get("drop"):
            drop = m.get("drop")
            parts.append("accuracy not measured" if drop is None else f"{drop:.1f} pt lost of the {self.max_drop:g} pt allowed")
        return "; ".join(parts)


SLOWER = 0.9  # a speed-up below this is slower than the original, beyond the noise of timing


def slower(m: dict) -> bool:
    return m.get("speedup") is not None and m["speedup"] < SLOWER


def candidate_line(index: int, name: str, metrics: dict, status: str, reason: str = "") -> str:
    """One candidate as the command line prints it when it finishes."""
    if not metrics:
        return f"{index:3d}. {name}: {status}" + (f" ({reason})" if reason else "")
    parts = [f"{metrics['smaller']:.1f}× smaller" + (" (LARGER)" if metrics["smaller"] < 1 else "")] if "smaller" in metrics else []
    if metrics.get("speedup") is not None:
        parts.append(f"{metrics['speedup']:.2f}× faster" + (" (SLOWER)" if slower(metrics) else ""))
    if "accuracy" in metrics:
        parts.append(f"accuracy {metrics['accuracy']:.2%}")
    elif "agreement" in metrics:
        parts.append(f"agreement {metrics['agreement']:.2%}")
    if metrics.get("drop") is not None:
        parts.append(f"drop {metrics['drop']:.1f} pt")
    text = f"{index:3d}. {name}: " + ", ".join(parts) + f" — {status}"
    return text + (f" ({reason})" if reason else "")
