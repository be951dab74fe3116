"""`studio auto` as a user runs it: the goal met and written, `studio run best.yaml` making it again, the
JSON contract, bad input in one line, and candidates in forked children."""

import json
import os
import subprocess
import sys

import pytest


def studio(*args, cwd):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_auto_meets_a_goal_and_its_recipe_replays(tmp_path):
    r = studio("auto", "sample:digits-cnn", "--data", "sample:digits", "--smaller", "3", "--max-drop", "1", "--budget", "120",
               "--out", "out", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"goal", "met", "best", "candidates"} and out["met"] is True
    assert set(out["best"]) >= {"path", "recipe", "metrics"}
    assert all(set(c) >= {"recipe", "metrics", "status"} for c in out["candidates"])
    assert " — met" in r.stderr  # every candidate's line on stderr as it finished
    best = tmp_path / "out" / "best.onnx"
    assert out["best"]["path"] == str(best.resolve()) or out["best"]["path"].endswith("out/best.onnx")
    size = best.stat().st_size
    assert (tmp_path / "out" / "best.card.md").is_file()

    again = studio("run", "out/best.yaml", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    replayed = json.loads(again.stdout)["export"]
    assert abs(replayed["size_bytes"] / size - 1) < 0.05


@pytest.mark.parametrize("args, says", [
    (["sample:digits-cnn", "--data", "sample:digits", "--smaller", "3"], "required: --out"),
    (["sample:no-such-model", "--data", "sample:digits", "--smaller", "3", "--out", "o"], "no-such-model"),
    (["sample:digits-cnn", "--data", "sample:digits", "--smaller", "0", "--out", "o"], "--smaller: expected a factor of at least 1"),
    (["sample:digits-cnn", "--data", "sample:digits", "--smaller", "lots", "--out", "o"], "--smaller: expected a number"),
    (["sample:digits-cnn", "--data", "sample:digits", "--out", "o"], "say what to aim for"),
    (["sample:digits-cnn", "--data", "nowhere.npz", "--smaller", "3", "--out", "o"], "nowhere.npz"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, says):
    r = studio("auto", *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("[")]  # progress bar lines aside
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_a_missed_goal_still_writes_the_closest(tmp_path):
    r = studio("auto", "sample:digits-cnn", "--data", "sample:digits", "--smaller", "1000", "--budget", "4", "--workers", "2",
               "--out", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "goal NOT met" in r.stdout and "held back by" in r.stdout
    assert (tmp_path / "out" / "best.onnx").is_file() and (tmp_path / "out" / "best.yaml").is_file()
