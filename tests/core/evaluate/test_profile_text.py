"""profile_text: a hand-made profile as the text `studio profile` prints (totals, the node table, time by
operator, the reasons)."""

from studio.core.evaluate.profile import NodeTime, Profile
from studio.core.evaluate.profile_text import format_text

CPU = "CPUExecutionProvider"
LONG = "/encoder/layers.11/attention/self/query/MatMul"  # 46 characters: cut to 40 in the table


def _profile(**more) -> Profile:
    nodes = [NodeTime("conv1", "FusedConv", 0.6, 0.6, CPU, ["conv1", "relu1", "bias"], "conv1_ort"),
             NodeTime(LONG, "MatMul", 0.3, 0.3, "CUDAExecutionProvider", [LONG], LONG),
             NodeTime("conv1", "ReorderOutput", 0.05, 0.05, CPU, [], "ReorderOutput", added=True),
             NodeTime("flat", "Reshape", 0.05, 0.05, CPU, ["flat"], "flat")]
    by_op = {"FusedConv": 0.6, "MatMul": 0.3, "ReorderOutput": 0.05, "Reshape": 0.05}
    return Profile("m.onnx", CPU, 1, 2, "random values", 20, 1.2, 1.5, 1.25, nodes, by_op, 0.5, ["a note"], **more)


def test_the_totals_the_slowest_nodes_and_the_reasons_are_written_out():
    lines = format_text(_profile(node_overhead_ms=0.002, node_runs=4, interrupted_ms=0.05, run_overhead_ms=0.008,
                                 node_plain_ms=0.0005), ["one reason"],
                        top=3).splitlines()
    assert lines[:6] == [
        "m.onnx in ONNX Runtime (CPUExecutionProvider): batch 1 on random values, 2 threads",
        "latency 1.200 ms (median of 20 runs without the profiler)",
        "profiled 1.500 ms per run: the profiler's own overhead is +25%, most of it on short nodes",
        "4 nodes ran 1.000 ms of ONNX Runtime's 1.250 ms per profiled run (80%); other processes took 0.0500 ms (4%) "
        "from its nodes, left out of their times; the rest is spent between nodes",
        "each node's time includes about 2.0 µs of the profiler's own (its time on nodes that only reshape), 0.0080 ms over "
        "the 4 nodes a run; without it the nodes take 0.992 ms, ONNX Runtime's own work per run 0.0080 ms (timed on a graph "
        "that passes the inputs through) and between nodes 0.0020 ms (0.50 µs a node, timed on a chain of trivial ones): "
        "84% of the latency",
        "a note"]
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["node", "op", "ms", "share", "provider", "fused", "with"]
    assert table[1].split() == ["conv1", "FusedConv", "0.600", "60.0%", "CPU", "relu1", "+1"]  # the others it fused, counted
    assert table[2].split() == ["…" + LONG[-39:], "MatMul", "0.300", "30.0%", "CUDA"]  # a long name keeps its end
    assert table[3].split() == ["conv1", "ReorderOutput", "(added)", "0.0500", "5.0%", "CPU"]
    assert table[4] == "… 1 more nodes: 0.0500 ms (5.0%)"  # past `top`
    assert lines[lines.index("time by operator") + 1].split() == ["op", "ms", "share"]
    assert lines[lines.index("time by operator") + 2].split() == ["FusedConv", "0.600", "60.0%"]
    assert lines[-2:] == ["why it is not faster", "- one reason"]


def test_what_was_not_measured_is_left_out_and_no_reason_is_said_so():
    text = format_text(_profile(), [])  # no reshaping node's time, no interruptions, every node in the table
    assert "µs of the profiler's own" not in text and "other processes" not in text and "more nodes" not in text
    assert "4 nodes ran 1.000 ms of ONNX Runtime's 1.250 ms per profiled run (80%); the rest is spent between nodes" in text
    assert text.splitlines()[-1].startswith("- nothing in these measurements")
