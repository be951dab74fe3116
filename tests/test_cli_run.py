"""`studio run` as a user runs it."""

import json
import os
import subprocess
import sys

RECIPE = """\
model: sample:digits-cnn
data: sample:digits
steps:
  - prune: {method: magnitude, scope: global, sparsity: 0.75}
  - finetune: {epochs: 1, lr: 0.001}
export: {path: out/model.onnx, zip: true}
"""


def studio(*args, cwd):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_run_json_reports_every_step_and_the_export(tmp_path):
    (tmp_path / "r.yaml").write_text(RECIPE)
    r = studio("run", "r.yaml", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [s["op"] for s in out["steps"]] == ["prune", "finetune"]
    assert abs(out["steps"][0]["metrics"]["weight_sparsity"] - 0.75) < 1e-6
    assert out["export"]["size_bytes"] == (tmp_path / "r.yaml").parent.joinpath("out/model.onnx").stat().st_size
    assert "%" in r.stderr  # progress went to stderr


def test_invalid_recipe_is_one_line_exit_2(tmp_path):
    (tmp_path / "r.yaml").write_text(RECIPE.replace("sparsity: 0.75", "sparsity: lots"))
    r = studio("run", "r.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "sparsity" in r.stderr and "Traceback" not in r.stderr


def test_out_of_memory_in_a_job_is_one_line(tmp_path, monkeypatch, capsys):
    from studio import cli
    from studio.core.project import steps

    (tmp_path / "r.yaml").write_text(RECIPE)

    def exhausted(*args, **kwargs):
        raise MemoryError()
        yield

    monkeypatch.setitem(steps.OPS, "prune", steps.Op("prune", steps.OPS["prune"].fields, exhausted, steps.OPS["prune"].describe))
    assert cli.main(["run", str(tmp_path / "r.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "ran out of memory" in err.splitlines()[-1] and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_each_step_says_what_its_version_notes_once(tmp_path):
    (tmp_path / "r.yaml").write_text("model: sample:digits-cnn\ndata: sample:digits\nsteps:\n"
                                     "  - prune: {sparsity: 0.5}\n  - quantize: {mode: dynamic}\n")
    r = studio("run", "r.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("   note: quantized by ONNX Runtime: int8 dynamic") == 1
    r = studio("run", "r.yaml", "--json", cwd=tmp_path)
    steps = json.loads(r.stdout)["steps"]
    assert "quantized by ONNX Runtime: int8 dynamic" in steps[1]["notes"]
    assert not any("quantized" in n for n in steps[0]["notes"])
    assert not set(steps[0]["notes"]) & set(steps[1]["notes"])  # what the pruned version said is not said again
