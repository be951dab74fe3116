"""What the automatic search proposes: which methods the model allows, the one-shot quantizations tried
first, the families whose amount is sized to the goal (channel ratio, sparsity), and the arms that are
trained a little and then more (successive halving). Candidates are plain recipe steps, (op, options),
checked by the ops' own schemas before they run."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.core.evaluate.data import DataSet
from studio.core.formats.model import Model
from studio.core.project.auto_goal import Goal, slower
from studio.core.project.steps import OPS

CHANNEL_RATIOS = (0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # share of channels removed, ascending
# share of weights set to zero, ascending; in small steps: five points of sparsity can cost all the accuracy
SPARSITIES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.975, 0.99)
SPEED_MARGIN = 1.05  # sizing aims this far past the speed asked: timings are noisy…
NEAR = 0.1  # …and an arm this close to the size and speed asked is trained on all the same
SENSITIVITY_LAYERS_MAX = 24  # per-layer sensitivity runs every layer at every level: fine for small models
SENSITIVITY_LEVELS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)

Steps = list[tuple[str, dict]]


@dataclass
class Allowed:
    """Which methods the model allows on this data, and why not where it does not."""

    quantize: bool
    channels: bool
    sparsity: bool
    trains: bool  # fine-tuning (and so QAT) on this data
    distill: bool  # a slimmer student of the same architecture
    why_not: dict[str, str] = field(default_factory=dict)


def allowed(model: Model, data: DataSet) -> Allowed:
    caps = model.capabilities()
    why = {op: caps[op].reason for op in ("quantize", "prune_structured", "prune_unstructured", "finetune") if not caps[op].allowed}
    trains = caps["finetune"].allowed
    channels = caps["prune_structured"].allowed  # an ONNX model's through its checked conversion to PyTorch (steps._prune)
    return Allowed(caps["quantize"].allowed, channels, caps["prune_unstructured"].allowed, trains,
                   channels and trains and caps["distill_teacher"].allowed, why)


def quantize(mode: str, tolerance: float | None = None, **more) -> tuple[str, dict]:
    options = {"mode": mode, **more}
    if tolerance is not None:
        options["tolerance"] = round(tolerance, 6)
    return ("quantize", options)


def tolerance(goal: Goal, share: float = 1.0) -> float:
    """The quantize step's own tolerance (a fraction): the goal's drop, or a share of it after pruning has
    taken its part. Never 0, which would turn the float fallback off."""
    return max(goal.max_drop / 100 * share, 0.001)


def one_shot(ok: Allowed, goal: Goal) -> list[Steps]:
    """The cheapest candidates, tried first: ONNX Runtime's quantizations with the tolerance fallback."""
    if not ok.quantize:
        return []
    out = [[quantize("static", tolerance(goal))], [quantize("dynamic", tolerance(goal))]]
    if goal.smaller is not None and goal.smaller <= 2 and goal.faster is None:
        out.append([quantize("fp16")])
    return out


@dataclass
class Family:
    """Pruning sized to the goal: the smallest amount on a ladder whose one-shot result (with the tail)
    reaches the size and speed asked, found by bisection on untrained probes (size and speed do not
    depend on training; accuracy does, and is the trained arms' business). Sizes and timings are not
    always monotonic in the amount (channel counts are rounded; timings are noisy): the amount chosen is
    the smallest probe that reached the goal, or else the probe that came closest."""

    kind: str  # "channels" or "sparsity"
    tail: Steps
    lo: int = 0
    hi: int = -1  # bisection over indices [lo, hi]; hi = len(ladder): none reaches the goal
    probes: dict[float, tuple[bool, float]] = field(default_factory=dict)  # amount → (reached, how far short)
    reached_goal: bool = False  # a probe reached the size and the speed asked (zeroed weights: the tail's speed)
    failed: str = ""  # why a probe failed: the family is left out

    def __post_init__(self) -> None:
        if self.hi < 0:
            self.hi = len(self.ladder)

    @property
    def ladder(self) -> tuple[float, ...]:
        return CHANNEL_RATIOS if self.kind == "channels" else SPARSITIES

    @property
    def speeds_up(self) -> bool:
        return self.kind == "channels"  # zeroed weights make nothing faster

    @property
    def done(self) -> bool:
        return self.lo >= self.hi

    def next_probe(self) -> float | None:
        return None if self.done else self.ladder[(self.lo + self.hi) // 2]

    def record(self, goal: Goal, amount: float, metrics: dict) -> None:
        ok = reaches(goal, metrics, self.speeds_up)
        self.reached_goal |= reaches(goal, metrics)
        gaps = goal.gaps(metrics)
        self.probes[amount] = (ok, gaps.get("smaller", 0.0) + (gaps.get("faster", 0.0) if self.speeds_up else 0.0))
        i = self.ladder.index(amount)
        if ok:
            self.hi = i
        else:
            self.lo = i + 1

    @property
    def reachable(self) -> bool:
        return self.reached_goal

    @property
    def amount(self) -> float:
        """The smallest amount that reached the goal, or the one that came closest."""
        reached = [a for a, (ok, _) in self.probes.items() if ok]
        if reached:
            return min(reached)
        if not self.probes:
            return self.ladder[-1]
        return min(self.probes, key=lambda a: (self.probes[a][1], -a))

    def prune(self, amount: float, layers: dict | None = None) -> Steps:
        if self.kind == "channels":
            return [("prune", {"method": "channels", "ratio": amount})]
        if layers:
            return [("prune", {"method": "magnitude", "scope": "layer", "sparsity": amount, "layers": layers})]
        return [("prune", {"method": "magnitude", "sparsity": amount})]


def families(ok: Allowed, goal: Goal, tail: Steps) -> tuple[list[Family], dict[str, str]]:
    """The pruning families worth sizing for this goal, and why the others are left out. Channels are sized
    with the tail and, for a speed goal, also without it (a quantization does not always run faster)."""
    out, why = [], {}
    if ok.channels:
        out.append(Family("channels", tail))
        if tail and goal.faster:
            out.append(Family("channels", []))
    else:
        why["channels"] = ok.why_not["prune_structured"]
    if not goal.smaller:
        why["sparsity"] = "zeroed weights make a model smaller once zipped, not faster"
    elif goal.size != "zip":
        why["sparsity"] = "zeroed weights make the zipped file smaller, not the file itself (--size zip counts them)"
    elif not ok.sparsity:
        why["sparsity"] = ok.why_not.get("prune_unstructured", "not allowed")
    else:
        out.append(Family("sparsity", tail))
    return out, why


def reaches(goal: Goal, metrics: dict, speed: bool = True) -> bool:
    """Whether a probe reaches the size and speed asked (speed with a margin for noise; `speed` False: the
    size alone, for zeroed weights, which make nothing faster)."""
    if goal.smaller and metrics.get("smaller", 0.0) < goal.smaller:
        return False
    return not speed or not goal.faster or (metrics.get("speedup") or 0.0) >= goal.faster * SPEED_MARGIN


def near(goal: Goal, metrics: dict) -> bool:
    """Whether a candidate's size and speed are at, or within NEAR of, what was asked: timings move by that
    much from one measurement to the next, so such an arm is worth training on."""
    g = goal.gaps(metrics)
    return g.get("smaller", 0.0) <= NEAR and g.get("faster", 0.0) <= NEAR


def best_tail(goal: Goal, tried: list[tuple[Steps, dict]]) -> Steps:
    """The quantization to put after pruning: of the one-shot ones that cost at most half the drop
    allowed, the one that went furthest towards the size and speed asked, preferring one that does not
    run slower than the original; none when each cost more."""
    cheap = [(steps, m) for steps, m in tried if m.get("drop") is not None and m["drop"] <= goal.max_drop / 2]
    if not cheap:
        return []
    steps, _ = max(cheap, key=lambda sm: (not slower(sm[1]), goal.margin(sm[1])))  # one that is not slower, if any
    mode = steps[0][1]["mode"]
    return [quantize(mode, tolerance(goal, 0.5))] if mode in ("static", "dynamic") else [quantize(mode)]


@dataclass
class Arm:
    """A trained line of candidates: its first steps (a prune, or a distillation), the fine-tuning added
    round after round, and the tail tried on each. Its candidates continue from its last body."""

    name: str
    first: Steps
    tail: Steps
    trains: bool
    steps: Steps = field(default_factory=list)  # the body's steps so far
    state: object = None  # the body's StepResult so far (None before the first run)
    epochs: int = 0  # fine-tuning epochs so far
    last: object = None  # the arm's latest candidate
    seconds: float = 0.0  # what its latest run took…
    last_epochs: int = 0  # …training this many epochs
    last_tail_drop: float = 0.0  # points its tail (a quantization) lost in its latest run
    alive: bool = True
    reachable: bool = True  # whether its size and speed reach the goal

    def next_steps(self, epochs: int) -> Steps:
        """The body steps of the arm's next run: its first steps (with fine-tuning) the first time, then
        more fine-tuning."""
        if self.state is None:
            first = [(op, {**o, "epochs": epochs}) if op == "distill" else (op, o) for op, o in self.first]
            trained = any(op == "distill" for op, _ in first)
            return first + ([("finetune", {"epochs": epochs})] if self.trains and not trained else [])
        return [("finetune", {"epochs": epochs})] if self.trains else []

    def estimate(self, epochs: int) -> float:
        """Seconds its next run would take, from its last one (0 when unknown: it is started)."""
        if not self.seconds:
            return 0.0
        return self.seconds * (epochs + 1) / (self.last_epochs + 1)


def name_of(steps: Steps) -> str:
    """A candidate in a few words: "channels −50% + fine-tune 3 ep + static int8"."""
    words, tuned = [], 0
    for op, o in steps:
        if op == "finetune":
            tuned += o.get("epochs", 3)
            continue
        if tuned:
            words.append(f"fine-tune {tuned} ep")
            tuned = 0
        words.append(_word(op, o))
    if tuned:
        words.append(f"fine-tune {tuned} ep")
    return " + ".join(words) or "original (fp32 ONNX export)"


def _word(op: str, o: dict) -> str:
    if op == "prune":
        if o.get("method") == "channels":
            return f"channels −{o['ratio']:.0%}"
        return f"sparsity {o['sparsity']:.1%}".replace(".0%", "%") + (" by layer sensitivity" if o.get("layers") else "")
    if op == "distill":
        return f"distil into width {o['student']['width']:g} ({o.get('epochs', 10)} ep)"
    if op == "quantize":
        mode = o.get("mode", "dynamic")
        if mode == "qat":
            return f"QAT int8 ({o.get('epochs', 2)} ep)"
        return {"static": "static int8", "dynamic": "dynamic int8", "fp16": "fp16"}.get(mode, mode)
    return op


def validated(steps: Steps) -> Steps:
    """The steps with every option filled in, as the recipe loop runs them."""
    return [(op, OPS[op].validate(f"auto.{op}", o)) for op, o in steps]
