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


def test_the_window_without_a_display_is_one_line_exit_2():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "studio", "sample:lenet-5"], capture_output=True, text=True, env=env, timeout=120)
    if sys.platform.startswith("linux"):
        assert r.returncode == 2 and r.stderr.strip().splitlines() == [
            "studio: cannot open the window: no display (DISPLAY and WAYLAND_DISPLAY are unset); the commands "
            "`studio inspect`, `run`, `profile` and `auto` work without one"]


def test_an_x_display_without_libxcb_cursor_is_said_before_qt_aborts(monkeypatch):
    import ctypes
    import ctypes.util

    from studio.cli import _no_screen

    def absent(name, *a, **k):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", absent)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert "libxcb-cursor" in _no_screen({"DISPLAY": ":0"}, "linux")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libxcb-cursor.so.0")  # ldconfig knows it
    assert _no_screen({"DISPLAY": ":0"}, "linux") is None
    monkeypatch.setattr(ctypes, "CDLL", lambda name, *a, **k: object())  # loads from a path ldconfig does not list (conda)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert _no_screen({"DISPLAY": ":0"}, "linux") is None
    assert _no_screen({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux") is None  # Qt takes Wayland there
    assert _no_screen({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert _no_screen({}, "darwin") is None
