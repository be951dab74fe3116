"""`studio inspect` as a user runs it: a subprocess, its stdout, stderr and exit code."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

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


def _bad_files(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "random.bin").write_bytes(os.urandom(4096))
    (tmp_path / "text.onnx").write_text("this is not a model\n" * 20)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    real = tmp_path / "m.pt"
    import torch

    from studio.core.samples import build_sample

    torch.jit.save(torch.jit.script(build_sample("digits-cnn")), real)
    (tmp_path / "truncated.pt").write_bytes(real.read_bytes()[:5000])
    (tmp_path / "folder").mkdir()
    return ["empty.onnx", "random.bin", "text.onnx", "other.zip", "truncated.pt", "folder", "missing.onnx"]


def test_every_bad_input_is_one_line_exit_2_no_traceback(tmp_path):
    for name in _bad_files(tmp_path):
        r = studio("inspect", str(tmp_path / name))
        assert r.returncode == 2, (name, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0], (name, r.stderr)
        assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["sample:nope"], ["sample:lenet-5", "--input-shape", "x"]])
def test_bad_arguments_are_one_line_too(args):
    r = studio("inspect", *args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
