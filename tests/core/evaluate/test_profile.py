"""The per-node profile: fused nodes reported under their layer, times that add up, an If's own time, the
JSON contract, and what it profiles (a PyTorch version's export, random inputs of fixed shapes). No timing
is asserted but sums, which are relative. The attribution itself: test_profile_nodes; the sentences:
test_profile_explain."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from real_inputs import tokens_and_scalar

from studio.core.errors import StudioError
from studio.core.evaluate import profile as profile_module
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.profile import Profile, node_times, profile
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import load_onnx

LAYERS = {"Conv", "Gemm", "MatMul"}


def _cnn(tmp_path):
    """conv → act → conv2 → act2 → pool → flat → fc (Gemm) → act3 → head (MatMul): big enough that
    kernel time, not ORT's bookkeeping between nodes, makes up a run."""
    rng = np.random.default_rng(0)
    w = {"w1": rng.normal(size=(32, 16, 3, 3)), "b1": rng.normal(size=32), "w2": rng.normal(size=(32, 32, 3, 3)),
         "b2": rng.normal(size=32), "wf": rng.normal(size=(64, 32)), "bf": rng.normal(size=64), "wh": rng.normal(size=(64, 10))}
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="act"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="act2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["g"], name="fc", transB=1),
             helper.make_node("Relu", ["g"], ["r3"], name="act3"),
             helper.make_node("MatMul", ["r3", "wh"], ["y"], name="head")]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16, 48, 48])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], initializer=inits)
    path = tmp_path / "cnn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return load_onnx(path, str(path))


def test_a_fused_conv_relu_is_reported_under_the_conv_and_the_times_add_up(tmp_path):
    model = _cnn(tmp_path)
    data = DataSet("random", {"x": np.random.default_rng(1).random((4, 16, 48, 48), np.float32)}, None)
    p = profile(model, data, batch=4, threads=1, runs=8)
    names = {n.name for n in p.nodes}
    conv = next(n for n in p.nodes if n.name == "conv" and not n.added)
    assert "act" in conv.fused and "act" not in names  # ORT fused the Relu into the Conv (FusedConv, or an NCHWc Conv)
    layers = [n.name for n in model.onnx.graph.node if n.op_type in LAYERS]
    assert sum(name in names for name in layers) >= 0.9 * len(layers)
    assert all(n.ort_name for n in p.nodes) and all(n.name in {m.name for m in model.onnx.graph.node} for n in p.nodes)
    assert 0.85 <= (p.nodes_ms + p.interrupted_ms) / p.run_ms <= 1.15  # the nodes' times add up to ORT's time of the runs
    assert p.node_runs == len(p.nodes) and p.profiler_ms == pytest.approx(p.node_overhead_ms * len(p.nodes))
    assert p.own_ms == pytest.approx(p.nodes_ms - p.profiler_ms)  # the profiler's own time reported apart
    assert 0 < p.run_overhead_ms < p.latency_ms and 0 <= p.node_plain_ms < p.node_overhead_ms  # cheaper than the profiler's
    assert p.accounted_ms == pytest.approx(p.own_ms + p.run_overhead_ms + p.node_plain_ms * p.node_runs)
    assert sum(n.share for n in p.nodes) == pytest.approx(1.0)
    assert sum(p.by_op.values()) == pytest.approx(p.nodes_ms)
    assert p.latency_ms > 0 and p.profiled_ms > 0 and p.runs == 8 and p.batch == 4 and p.threads == 1
    assert not any("too fast" in n for n in p.notes)  # its convolutions outweigh the profiler


def test_a_model_faster_than_the_profiler_is_told_so(tmp_path):
    # four elementwise nodes on four numbers: each computes in well under a microsecond, the profiler
    # spends microseconds on each
    nodes = [helper.make_node(op, [a], [b], name=b) for op, a, b in
             [("Relu", "x", "r"), ("Neg", "r", "n"), ("Abs", "n", "a"), ("Sigmoid", "a", "y")]]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    data = DataSet("random", {"x": np.random.default_rng(1).random((1, 4), np.float32)}, None)
    p = profile(load_onnx(path, str(path)), data, threads=1, runs=20)
    assert p.profiler_ms > p.own_ms
    warning = next(n for n in p.notes if "too fast" in n)
    assert f"{p.profiler_ms:.3g} ms" in warning and f"{2000 * p.node_overhead_ms:.0f} µs" in warning


def test_an_if_node_counts_its_own_time_apart_from_its_branch_and_warm_up_runs_and_interruptions_are_left_out():
    # an If's own time is its span less its branch's run (ORT's SequentialExecutor::Execute event, around the
    # branch's nodes): the branch's setup and the gaps between its nodes are bookkeeping, as in the main graph
    def run(ts, dur):
        return [{"cat": "Session", "name": "model_run", "ts": ts, "dur": dur},
                {"cat": "Session", "name": "SequentialExecutor::Execute", "ts": ts + 2, "dur": dur - 4}]

    def branch(ts, dur):
        return {"cat": "Session", "name": "SequentialExecutor::Execute", "ts": ts, "dur": dur}

    def node(name, ts, dur):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": name, "provider": "CPU"}}

    events = [*run(0, 1000), node("warm", 10, 900)]  # a warm-up run
    for start in (2000, 3000, 4000, 5000):
        events += [*run(start, 100), node("If", start + 10, 60), branch(start + 14, 50), node("Branch", start + 20, 15),
                   node("Branch2", start + 40, 20), node("After", start + 75, 20)]
    for start in (6000, 9000, 12000):  # another process took 2 ms while "After" ran
        events += [*run(start, 2100), node("If", start + 10, 60), branch(start + 14, 50), node("Branch", start + 20, 15),
                   node("Branch2", start + 40, 20), node("After", start + 75, 2020)]
    times, run_ms, interrupted_ms, node_runs = node_times(events, timed=range(1, 8))
    # the middle half of the 7 runs: 3 plain, 2 interrupted
    assert "warm" not in times and run_ms == pytest.approx(0.9) and interrupted_ms == pytest.approx(0.8)
    assert node_runs == 4  # If, its branch's two nodes, After
    assert times["If"]["ms"] == pytest.approx(0.01) and times["Branch"]["ms"] == pytest.approx(0.015)
    assert times["After"]["ms"] == pytest.approx(0.02)


def test_the_plain_and_profiled_sessions_take_turns_and_only_timed_runs_are_kept(monkeypatch):
    # a machine that is slower for a while must slow both alike: turns, each after an untimed run
    monkeypatch.setattr(profile_module, "SETTLE_S", 0.0)
    log = []

    class Session:
        def __init__(self, name):
            self.name = name

        def run(self, _outputs, _feed):
            log.append(self.name)

    out = profile_module._in_turns([Session("plain"), Session("pass"), Session("traced")], {}, runs=12, budget_s=60, source="x")
    assert [len(times) for times, _ in out] == [12, 12, 12]
    rounds = profile_module.ROUNDS
    assert log[: 3 * profile_module.WARMUP] == ["plain"] * 3 + ["pass"] * 3 + ["traced"] * 3
    turns = [name for i, name in enumerate(log) if i == 0 or log[i - 1] != name]
    assert turns == ["plain", "pass", "traced"] * (rounds + 1)  # the warm-up, then each round
    _, kept = out[2]
    traced = [i for i, name in enumerate(log) if name == "traced"]  # the traced session's runs, in order
    firsts = {traced.index(i) for i, name in enumerate(log) if name == "traced" and log[i - 1] != "traced"}
    assert len(kept) == 12 and not set(kept) & firsts and min(kept) > profile_module.WARMUP  # no warm-up, no turn's first run
    assert max(kept) == len(traced) - 1


def test_the_json_contract(digits):
    model, data = digits
    out = json.loads(json.dumps(profile(model, data, runs=3).to_json()))
    assert isinstance(out["latency_ms"], float) and out["latency_ms"] > 0
    assert isinstance(out["by_op"], dict) and all(isinstance(k, str) and isinstance(v, float) for k, v in out["by_op"].items())
    for n in out["nodes"]:
        assert isinstance(n["name"], str) and isinstance(n["op"], str) and isinstance(n["provider"], str)
        assert isinstance(n["ms"], float) and 0 <= n["share"] <= 1
    assert {n["name"] for n in out["nodes"]} <= {n.name for n in model.onnx.graph.node}  # names as in the model's graph


def test_pytorch_versions_are_profiled_on_their_export_and_unknown_shapes_without_data_are_refused(tmp_path):
    p = profile(load_model("sample:digits-cnn"), None, runs=3)  # its file fixes every size but the batch: random values
    assert isinstance(p, Profile) and "random" in p.inputs and "ONNX export" in " ".join(p.notes)
    with pytest.raises(StudioError, match="choose data"):
        profile(tokens_and_scalar(tmp_path), None)
    unnamed = profile(tokens_and_scalar(tmp_path), DataSet("d", {"ids": np.ones((3, 5), np.int64), "scale": np.array(2)}, None))
    assert {n.name for n in unnamed.nodes} <= {"m", "out"}  # unnamed nodes: named after their output, as the graph view does


def test_the_chain_timed_for_ort_work_between_nodes_survives_its_optimiser(tmp_path):
    """Its nodes must run: folded into a constant, the chain would time nothing."""
    import onnxruntime as ort

    feed = {"ids": np.ones((1, 8), np.int64), "x": np.ones((1, 3), np.float32)}
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    session = ort.InferenceSession(profile_module._pass_through(feed, profile_module.CHAIN), opts, providers=["CPUExecutionProvider"])
    assert session.run([f"chain_{profile_module.CHAIN}"], feed)[0].tolist() == [1.0]  # the first input's first value, negated 40 times
    ran = onnx.load(str(tmp_path / "optimized.onnx")).graph.node
    assert sum(n.op_type == "Neg" for n in ran) == profile_module.CHAIN
