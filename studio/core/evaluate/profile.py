"""Where the time goes: ONNX Runtime's profiler on examples of the data, node by node (README: Command line).

A version is timed twice on the same inputs, as latency times it: a plain session (its latency, the
median of timed runs) and one with ORT's profiler on (its kernel times), taking turns several times so
that a machine slower for a while (another process, a throttled core) slows both alike. What profiling
adds is stated apart: the profiler's cost on each node it times (its time on a node that only reshapes) times the nodes
run, so that the nodes' own time, with ORT's own work per run and between nodes (timed on graphs that pass the
inputs through, with and without a chain of trivial nodes), adds up to the plain latency. Warm-up runs are left out, and node times are means over the middle half of the profiled runs,
less what other processes took: on a busy machine a scheduler's slice of milliseconds lands on
whichever node was running, so a node far above its median in a run lost that time to them (it is
reported apart, as interruptions). Each node ORT ran
is reported under the graph node it computes (profile_nodes: fused nodes under the layer they hold,
the others they absorbed listed with it), and the time of an If or Loop is its own, apart from the
nodes of its branches. A PyTorch version is profiled on its ONNX export.
"""

from __future__ import annotations

import bisect
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from studio.core.errors import StudioError, first_line
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.feeds import fixed_batch
from studio.core.evaluate.latency import timing_feed  # the examples every latency is timed on
from studio.core.evaluate.profile_explain import explain
from studio.core.evaluate.profile_nodes import Origin, attribute
from studio.core.evaluate.runtime import ORT_ERRORS_ONLY, ort_errors_only, ort_providers, resolve_device
from studio.core.formats.load_onnx import all_graphs, full_onnx
from studio.core.formats.model import Model
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.threads import thread_budget

__all__ = ["NodeTime", "Profile", "explain", "profile"]

WARMUP = 3
RUNS = 100  # timed runs of each session, spread over ROUNDS turns
ROUNDS = 5
TURN_S = 0.3  # a turn stops after this long (at least one timed run): a slow model gets fewer runs
BUDGET_S = 3.0  # no turns begin after this long, once two rounds are done
# Before each turn: a session's idle intra-op threads spin for tens of milliseconds after its runs, and
# took the cores from the next session's (a 6 ms model ran in 11 ms right after another's run, in 6.6 ms 100 ms later)
SETTLE_S = 0.1
KERNEL = "_kernel_time"  # ORT names a node's event "<node name>_kernel_time"
# ORT's event for a run of a graph: the main graph's, and an If's branch's or a Loop's body's inside its node.
# Taken out of an If's time with its nodes: the branch's setup and the profiler's bookkeeping around its
# nodes put 27 µs a run on silero_vad.onnx's seven Ifs, a sixth of its plain latency.
BRANCH_RUN = "SequentialExecutor::Execute"
# A node that takes this much longer than its median in one run was interrupted: another process had
# the CPU (a scheduler's slice is a few milliseconds). That time is left out of the node and the run.
STALL_US = 500
STALL_SHARE = 0.25
CHAIN = 40  # trivial nodes timed one after another for ORT's own work per node
# ops that only relabel their input's shape (ORT reuses the buffer): their profiled time is the profiler's own
RESHAPING = {"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"}


@dataclass
class NodeTime:
    name: str  # the node of the model's graph this time is reported under
    op: str  # the operator ONNX Runtime ran (FusedConv, QLinearConv, ConvInteger, …)
    ms: float  # milliseconds per run (mean of the runs kept); an If or Loop without its branches' nodes
    share: float  # of the time of all nodes
    provider: str
    fused: list[str] = field(default_factory=list)  # every graph node this kernel computes, `name` first
    ort_name: str = ""  # its name in ONNX Runtime's optimised graph
    graph: str = ""  # the subgraph it runs in ("If_0/then_branch"); "" for the main graph
    added: bool = False  # a layout conversion or copy ONNX Runtime added for the node `name`

    def to_json(self) -> dict:
        return {"name": self.name, "op": self.op, "ms": self.ms, "share": self.share, "provider": self.provider,
                "fused": self.fused, "ort_name": self.ort_name, "graph": self.graph, "added": self.added}


@dataclass
class Profile:
    source: str
    provider: str  # the execution provider asked for
    batch: int
    threads: int | str
    inputs: str  # what the model ran on
    runs: int  # profiled runs (after the warm-up); node times are means over the middle half of them
    latency_ms: float  # median of plain timed runs, without the profiler
    profiled_ms: float  # median of the profiled runs, timed the same way
    run_ms: float  # ORT's own time of a profiled run (mean of those kept): its nodes, interruptions and the time between nodes
    nodes: list[NodeTime]  # slowest first
    by_op: dict[str, float]  # milliseconds per operator ORT ran, slowest first
    wall_s: float  # the whole profiling, export and sessions included
    notes: list[str] = field(default_factory=list)
    # what the profiler adds to each node it times: its median time on nodes that only reshape, or on the
    # cheapest node when none does (None without nodes)
    node_overhead_ms: float | None = None
    node_runs: float = 0.0  # kernels ORT ran per profiled run (a node in a Loop body counts each time)
    # ORT's own work per run outside the nodes (taking the inputs, handing back outputs): the plain latency
    # of a graph that only passes these inputs through, the same way
    run_overhead_ms: float = 0.0
    # ORT's own work per node outside the node's kernel (its time span), which the profile cannot see: the plain
    # latency of a chain of CHAIN trivial nodes, less the pass-through's, per node
    node_plain_ms: float = 0.0
    interrupted_ms: float = 0.0  # per profiled run, the time other processes took from its nodes (left out of their times)
    model: Model | None = field(default=None, repr=False, compare=False)  # the ONNX model that ran (an export for PyTorch)

    @property
    def nodes_ms(self) -> float:
        return sum(n.ms for n in self.nodes)

    @property
    def profiler_ms(self) -> float:
        """The profiler's own time inside the node times of a run: its cost on a node times the nodes run."""
        return (self.node_overhead_ms or 0.0) * self.node_runs

    @property
    def own_ms(self) -> float:
        """The nodes' time without the profiler's own: what adds up to the plain latency."""
        return max(self.nodes_ms - self.profiler_ms, 0.0)

    @property
    def accounted_ms(self) -> float:
        """What the profile accounts for of a plain run: the nodes' own time and ORT's work per run and per node."""
        return self.own_ms + self.run_overhead_ms + self.between_ms

    @property
    def between_ms(self) -> float:
        """ORT's own work around the nodes of a run, outside their kernels: per node, times the nodes run."""
        return self.node_plain_ms * self.node_runs

    @property
    def overhead(self) -> float:
        """What the profiler adds to a run, as a fraction of the plain latency."""
        return self.profiled_ms / self.latency_ms - 1 if self.latency_ms > 0 else 0.0

    def to_json(self) -> dict:
        """`latency_ms`, `nodes` (each `name`, `op`, `ms`, `share`, `provider`) and `by_op` are stable
        (README: Command line); the other keys are additions."""
        return {"latency_ms": self.latency_ms, "nodes": [n.to_json() for n in self.nodes], "by_op": self.by_op,
                "source": self.source, "runtime": f"onnxruntime {self.provider}", "batch": self.batch, "threads": self.threads,
                "inputs": self.inputs, "runs": self.runs, "profiled_ms": self.profiled_ms, "overhead": self.overhead,
                "run_ms": self.run_ms, "nodes_ms": self.nodes_ms, "node_overhead_ms": self.node_overhead_ms,
                "node_runs": self.node_runs, "profiler_ms": self.profiler_ms, "own_ms": self.own_ms,
                "run_overhead_ms": self.run_overhead_ms, "node_plain_ms": self.node_plain_ms,
                "interrupted_ms": self.interrupted_ms, "wall_s": self.wall_s,
                "notes": self.notes}


def profile(model: Model, data: DataSet | None = None, batch: int = 1, threads: int | None = None, runs: int = RUNS,
            device: str = "cpu", budget_s: float = BUDGET_S) -> Profile:
    """Profile the model in ONNX Runtime on a batch of examples of the data (random values of the
    declared shapes without data, when the file fixes them)."""
    started = time.perf_counter()
    device = resolve_device(device)
    onnx_model, notes = _as_onnx(model, data)
    feed, inputs = timing_feed(onnx_model, data, batch)
    if feed is None:
        raise StudioError(inputs, model.source)
    proto = _named(full_onnx(onnx_model))
    blob = proto.SerializeToString()
    with tempfile.TemporaryDirectory(prefix="studio-profile-") as tmp:
        plain = _session(blob, device, threads, None, model.source)
        feed = {k: v for k, v in feed.items() if k in {i.name for i in plain.get_inputs()}}  # not initializers listed as inputs
        traced = _session(blob, device, threads, Path(tmp), model.source)
        sessions = [plain, _session(_pass_through(feed), device, threads, None, model.source),
                    _session(_pass_through(feed, CHAIN), device, threads, None, model.source), traced]
        (latencies, _), (passing, _), (chained, _), (profiled, kept) = _in_turns(sessions, feed, runs, budget_s, model.source)
        used = plain.get_session_options().intra_op_num_threads or "default"
        events = json.loads(Path(traced.end_profiling()).read_text())
        optimized = onnx.load(str(Path(tmp) / "optimized.onnx"), load_external_data=False)
    times, run_ms, interrupted_ms, node_runs = node_times(events, kept)
    nodes = _report(times, attribute(proto.graph, optimized.graph))
    by_op: dict[str, float] = {}
    for n in nodes:
        by_op[n.op] = by_op.get(n.op, 0.0) + n.ms
    free = [n.ms for n in nodes if n.op in RESHAPING] or [min((n.ms for n in nodes), default=None)]
    result = Profile(model.source, ort_providers(device)[0], fixed_batch(onnx_model) or batch, threads or used, inputs, len(profiled),
                   statistics.median(latencies), statistics.median(profiled), run_ms, nodes,
                   dict(sorted(by_op.items(), key=lambda kv: -kv[1])), time.perf_counter() - started, notes,
                   node_overhead_ms=None if free == [None] else statistics.median(free), node_runs=node_runs,
                   run_overhead_ms=statistics.median(passing),
                   node_plain_ms=max(statistics.median(chained) - statistics.median(passing), 0.0) / CHAIN,
                   interrupted_ms=interrupted_ms, model=onnx_model)
    result.notes += _too_fast(result)
    return result


def _too_fast(p: Profile) -> list[str]:
    """A warning when the profiler's own time outweighs the nodes' own (a model of a few microseconds a
    node): each node's time is then mostly the profiler's, and its share says little."""
    if p.node_overhead_ms is None or p.profiler_ms <= p.own_ms:
        return []
    return [f"this model runs too fast to time node by node: the profiler's own time ({p.profiler_ms:.3g} ms a run) is "
            f"more than the nodes' own ({p.own_ms:.3g} ms), so a node's time is mostly the "
            f"profiler's; only nodes above about {2000 * p.node_overhead_ms:.0f} µs (twice its cost on a node) tell much"]


def node_times(events: list[dict], timed: Sequence[int]) -> tuple[dict[str, dict], float, float, float]:
    """From ORT's trace, over the middle half (by their length) of the `timed` runs, given by their places
    among the runs in time order (warm-up runs left out): per node of the optimised graph its operator,
    provider and mean milliseconds per run, less what other processes took from it; ORT's mean time of
    those runs; what other processes took from their nodes (interruptions); and the kernels run per run.
    A node's time is its own: the run of a graph nested in it (an If's branch) is taken out."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"), key=lambda e: e["ts"])
    runs = sorted((runs[i] for i in timed if i < len(runs)), key=lambda e: e["dur"])
    if not runs:
        raise StudioError("ONNX Runtime's profile holds no runs")
    kept = runs[len(runs) // 4 : len(runs) - len(runs) // 4]
    spans = sorted((e for e in events if (e.get("cat") == "Node" and e.get("name", "").endswith(KERNEL)) or e.get("name") == BRANCH_RUN),
                   key=lambda e: (e["ts"], -e["dur"]))
    starts = [e["ts"] for e in spans]
    times: dict[str, dict] = {}
    ran = 0
    for k, run in enumerate(sorted(kept, key=lambda e: e["ts"])):
        inside = spans[bisect.bisect_left(starts, run["ts"]) : bisect.bisect_right(starts, run["ts"] + run["dur"])]
        for e, own in zip(inside, _exclusive(inside)):
            if e.get("name") == BRANCH_RUN:
                continue
            ran += 1
            args = e.get("args", {})
            t = times.setdefault(e["name"][: -len(KERNEL)], {"op": args.get("op_name", "?"), "provider": args.get("provider", "?"),
                                                          "order": len(times), "us": [0.0] * len(kept)})
            t["us"][k] += own  # a node of a Loop body runs several times a run
    taken = 0.0
    for t in times.values():
        typical = statistics.median(t["us"])
        stalls = [us - typical for us in t["us"] if us - typical > max(STALL_US, STALL_SHARE * typical)]
        taken += sum(stalls)
        t["ms"] = (sum(t.pop("us")) - sum(stalls)) / len(kept) / 1000
    return times, statistics.fmean(e["dur"] for e in kept) / 1000, taken / len(kept) / 1000, ran / len(kept)


def _exclusive(events: list[dict]) -> list[float]:
    """Each event's duration less the span its nested events cover, first start to last end (ORT runs
    nodes one after another: an event inside another's span is a node of its subgraph, or the run of
    that subgraph, BRANCH_RUN, which holds its nodes). The gaps between nested nodes, and a branch's run
    outside its nodes, are the executor's and the profiler's bookkeeping, which in the main graph counts
    for no node either."""
    own = [float(e["dur"]) for e in events]
    covered: dict[int, tuple[float, float]] = {}  # outer event → (first nested start, last nested end)
    open_: list[int] = []  # the events whose span the next one may lie in, innermost last
    for i, e in enumerate(events):
        while open_ and not _within(e, events[open_[-1]]):
            open_.pop()
        if open_:
            first, _ = covered.get(open_[-1], (e["ts"], 0.0))
            covered[open_[-1]] = (first, e["ts"] + e["dur"])
        open_.append(i)
    for i, (first, last) in covered.items():
        own[i] -= last - first
    return [max(o, 0.0) for o in own]


def _within(e: dict, outer: dict) -> bool:
    end = outer["ts"] + outer["dur"]
    return e["ts"] < end and e["ts"] + e["dur"] <= end + 1  # timestamps are whole microseconds


def _report(times: dict[str, dict], origins: dict[str, Origin]) -> list[NodeTime]:
    total = sum(t["ms"] for t in times.values()) or 1.0
    nodes = []
    for ort_name, t in sorted(times.items(), key=lambda kv: (-kv[1]["ms"], kv[1]["order"])):
        o = origins.get(ort_name) or Origin(ort_name, [], "", added=True)  # a node missing from the saved graph
        nodes.append(NodeTime(o.name, t["op"], t["ms"], t["ms"] / total, t["provider"], list(o.nodes), ort_name, o.graph, o.added))
    return nodes


def _as_onnx(model: Model, data: DataSet | None) -> tuple[Model, list[str]]:
    if model.onnx is not None:
        return model, []
    if model.module is None:
        raise StudioError("weights only: nothing runs, so there is nothing to profile", model.source)
    exported = to_onnx(model, example=None if data is None else data.example_for(model.inputs))
    return exported, ["profiled on its ONNX export in ONNX Runtime (the studio runs this version in PyTorch)"]


def _pass_through(feed: dict, chain: int = 0) -> bytes:
    """A graph that hands each input of `feed` back as an output (Identity): timing it times ORT's own
    work per run on these inputs, outside any real node. With `chain`, also that many Neg nodes one after
    another on one number (from the first input, so that nothing is computed before the run), whose
    extra time is ORT's own work per node."""
    helper = onnx.helper
    inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)) for k, v in feed.items()]
    outputs = [helper.make_tensor_value_info(f"{k}_out", i.type.tensor_type.elem_type, list(v.shape))
               for (k, v), i in zip(feed.items(), inputs)]
    nodes = [helper.make_node("Identity", [k], [f"{k}_out"]) for k in feed]
    weights = []
    if chain and feed:  # the first input's first value, as a float: known only when the run starts, so nothing is folded
        weights = [numpy_helper.from_array(np.array(a, np.int64), name) for a, name in (([-1], "flat"), ([0], "zero"), ([1], "one"))]
        nodes += [helper.make_node("Reshape", [next(iter(feed)), "flat"], ["chain_flat"]),
                  helper.make_node("Slice", ["chain_flat", "zero", "one"], ["chain_one"]),
                  helper.make_node("Cast", ["chain_one"], ["chain_0"], to=onnx.TensorProto.FLOAT)]
        nodes += [helper.make_node("Neg", [f"chain_{k}"], [f"chain_{k + 1}"]) for k in range(chain)]
        outputs.append(helper.make_tensor_value_info(f"chain_{chain}", onnx.TensorProto.FLOAT, None))  # [0] for an empty input
    graph = helper.make_graph(nodes, "pass_through", inputs, outputs, initializer=weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]).SerializeToString()


def _named(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model with every node named (a copy, when some are not), as the graph view names them:
    ORT reports a node by its name."""
    if all(n.name for g in all_graphs(proto.graph) for n in g.node):
        return proto
    named = onnx.ModelProto()
    named.CopyFrom(proto)
    for g in all_graphs(named.graph):
        for i, n in enumerate(g.node):
            n.name = n.name or (n.output[0] if n.output else f"{n.op_type}_{i}")
    return named


def _session(blob: bytes, device: str, threads: int | None, trace: Path | None, source: str):
    """A session as ort_session makes them; with `trace`, ORT's profiler on, writing its trace and the
    optimised graph (weights apart) there."""
    import onnxruntime as ort

    ort_errors_only()
    opts = ort.SessionOptions()
    opts.log_severity_level = ORT_ERRORS_ONLY  # saving an NCHWc graph warns that it is machine-specific
    threads = threads or thread_budget()
    if threads:
        opts.intra_op_num_threads = threads
    if trace is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(trace / "profile")
        opts.optimized_model_filepath = str(trace / "optimized.onnx")
        opts.add_session_config_entry("session.optimized_model_external_initializers_file_name", "optimized.weights")
        opts.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    try:
        return ort.InferenceSession(blob, opts, providers=ort_providers(device))
    except Exception as e:  # ORT raises its own exception types for invalid or unsupported graphs
        raise StudioError(f"ONNX Runtime cannot run this model ({first_line(e)})", source) from None


def _in_turns(sessions: list, feed: dict, runs: int, budget_s: float, source: str) -> list[tuple[list[float], list[int]]]:
    """Per session, the milliseconds of its timed runs and their places among all its runs. The sessions
    take turns, ROUNDS times (fewer when `runs` is smaller, or past `budget_s`), each turn after
    SETTLE_S and an untimed run that brings its weights back into the caches the others used."""
    out: list[tuple[list[float], list[int]]] = [([], []) for _ in sessions]
    for s in sessions:
        time.sleep(SETTLE_S)
        for _ in range(WARMUP):
            _run(s, feed, source)
    done = [WARMUP] * len(sessions)  # runs each session has made
    rounds = max(1, min(ROUNDS, runs))
    start = time.perf_counter()
    for r in range(rounds):
        if r >= 2 and time.perf_counter() - start > budget_s:
            break
        for i, s in enumerate(sessions):
            time.sleep(SETTLE_S)
            turn = _turn(s, feed, runs // rounds + (r < runs % rounds), source)
            out[i][0].extend(turn)
            out[i][1].extend(range(done[i] + 1, done[i] + 1 + len(turn)))  # after the untimed run
            done[i] += 1 + len(turn)
    return out


def _turn(session, feed: dict, runs: int, source: str) -> list[float]:
    """An untimed run, then up to `runs` timed ones (at least one) until TURN_S has passed."""
    _run(session, feed, source)
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < runs and (not times or time.perf_counter() - began <= TURN_S):
        t = time.perf_counter()
        _run(session, feed, source)
        times.append((time.perf_counter() - t) * 1000)
    return times


def _run(session, feed: dict, source: str) -> None:
    try:
        session.run(None, feed)
    except Exception as e:  # ORT's own exception types: shapes or types the data does not fit
        raise StudioError(f"ONNX Runtime cannot run this model on these inputs ({first_line(e)})", source) from None
