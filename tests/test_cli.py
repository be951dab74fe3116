"""`studio inspect` as a user runs it: a subprocess, its stdout, stderr and exit code."""

import json
import os
import re
import subprocess
import sys

import pytest
from bad_inputs import REFUSED, bad_models

REQUIRED = {"format", "parameters", "size_bytes", "inputs", "outputs", "layers"}


def studio(*args):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env, timeout=300)


def test_inspect_json_has_the_stable_keys():
    r = studio("inspect", "sample:lenet-300-100", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert REQUIRED <= set(out)
    assert out["parameters"] == 266_610 and out["format"] == "sample"
    assert {"name", "type", "parameters", "sparsity"} <= set(out["layers"][0])
    assert sum(layer["parameters"] for layer in out["layers"]) == out["parameters"]


def test_inspect_text_shows_a_layer_table():
    r = studio("inspect", "sample:lenet-5")
    assert r.returncode == 0 and "conv2" in r.stdout and "431,080" in r.stdout


def test_bad_inputs_are_one_line_exit_2_no_traceback_in_a_real_process(tmp_path):
    """A few of the corpus (tests/test_cli_bad_inputs.py runs all of it in-process)."""
    models = bad_models(tmp_path)
    for name in ["empty.onnx", "random.bin", "truncated.pt", "overflow.onnx", "escape/outside.onnx"]:
        r = studio("inspect", str(models[name]))
        assert r.returncode == 2, (name, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0] and re.search(REFUSED[name], lines[0]), (name, r.stderr)


@pytest.mark.parametrize("args", [["sample:nope"], ["sample:lenet-5", "--input-shape", "x"]])
def test_bad_arguments_are_one_line_too(args):
    r = studio("inspect", *args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
