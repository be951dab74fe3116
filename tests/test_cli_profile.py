"""`studio profile` as a user runs it: the stable JSON, the table and the explanations, and bad input
as one line with exit code 2."""

import json
import os
import re
import subprocess
import sys

import pytest
from onnx import TensorProto, helper, save

from studio import cli

STABLE = {"latency_ms", "nodes", "by_op"}
NODE = {"name": str, "op": str, "ms": float, "share": float, "provider": str}


def studio(*args):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env, timeout=300)


def test_json_prints_only_the_stable_object():
    r = studio("profile", "sample:digits-cnn", "--data", "sample:digits", "--runs", "5", "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # nothing but the JSON on stdout
    assert STABLE <= set(out) and isinstance(out["latency_ms"], float) and out["latency_ms"] > 0
    assert out["nodes"] and all(isinstance(n[k], t) for n in out["nodes"] for k, t in NODE.items())
    assert sum(n["share"] for n in out["nodes"]) == pytest.approx(1.0)
    assert sum(out["by_op"].values()) == pytest.approx(sum(n["ms"] for n in out["nodes"]))
    assert out["batch"] == 1 and out["threads"] == 1 and isinstance(out["explanations"], list)
    assert "compare" not in out  # only with --compare


def _torchscript_export(tmp_path):
    """digits-cnn exported by the older exporter: its nodes are named /conv1/Conv, not node_conv2d."""
    import torch

    from studio.core.formats.samples import build_sample, sample_input

    path = tmp_path / "digits.onnx"
    torch.onnx.export(build_sample("digits-cnn"), (sample_input("digits-cnn", 1),), path, dynamo=False)
    return path


def test_compare_profiles_both_the_same_way_and_matches_their_layers(tmp_path, capsys):
    other = _torchscript_export(tmp_path)
    args = ["profile", "sample:digits-cnn", "--compare", str(other), "--data", "sample:digits", "--runs", "3", "--threads", "1"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "why it is not faster" in out and f"compared with {other}" in out
    assert re.search(rf"sample:digits-cnn runs (about as fast as|\S+ (faster|slower) than) {re.escape(str(other))} \(", out), out
    assert all(f"\n{layer} " in out for layer in ("conv1", "conv2", "fc1", "fc2"))  # matched by their weights

    assert cli.main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert STABLE <= set(out) and out["compare"]["before"] == str(other) and out["compare"]["after"] == "sample:digits-cnn"
    assert {"conv1", "conv2", "fc1", "fc2"} <= {r["name"] for r in out["compare"]["layers"]}
    assert isinstance(out["compare"]["summary"], str) and out["compare"]["before_ms"] > 0


def test_the_text_shows_totals_a_table_time_by_operator_and_why(capsys):
    assert cli.main(["profile", "sample:digits-cnn", "--data", "sample:digits", "--runs", "3", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert "latency" in out and "profiler's own overhead" in out and "batch 4" in out
    assert "node " in out and "share" in out and "time by operator" in out and "why it is not faster" in out
    assert "Conv" in out and "node_conv2d" in out  # the export's node names


def _dynamic_sizes(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="act")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "width"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "width"])])
    path = tmp_path / "dynamic.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize("case", ["missing", "no-data", "batch", "data", "compare"])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, case):
    args, expected = {
        "missing": (["profile", str(tmp_path / "nope.onnx")], "nope.onnx: no such file"),
        "no-data": (["profile", str(_dynamic_sizes(tmp_path))], "dynamic.onnx: choose data"),
        "batch": (["profile", "sample:digits-cnn", "--batch", "0"], "--batch: expected a whole number"),
        "data": (["profile", "sample:digits-cnn", "--data", str(tmp_path / "none.npz")], "none.npz: no such file"),
        "compare": (["profile", "sample:digits-cnn", "--compare", str(tmp_path / "other.onnx")], "other.onnx: no such file"),
    }[case]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("studio: ") and expected in err[0], err


def test_a_hugging_face_folder_is_profiled_on_text_its_tokenizer_reads(tmp_path):
    pytest.importorskip("transformers")
    from hf_folders import sentences, tiny_bert

    folder = tiny_bert(tmp_path / "bert")
    (tmp_path / "lines.txt").write_text("\n".join(sentences(12)[0]) + "\n")
    r = studio("profile", str(folder), "--data", str(tmp_path / "lines.txt"), "--runs", "3", "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "lines.txt" in out["inputs"] and any(n["op"] in ("MatMul", "FusedMatMul", "Gemm") for n in out["nodes"])
