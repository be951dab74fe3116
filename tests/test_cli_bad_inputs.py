"""The generated corpus of broken inputs through the command line: one line on stderr, exit 2, and
every file as it was. (tests/test_cli.py runs a few of them in a real subprocess too.)"""

import json
import re

import pytest
from bad_inputs import BAD_DATA, BAD_RECIPES, OPEN_WITH_NOTE, REFUSED, bad_data, bad_models, bad_recipes

from studio import cli


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return bad_models(tmp_path_factory.mktemp("bad-models"))


def _snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _one_line_error(capsys, code, name, expected):
    """Exit 2; stderr's last line is the error, after the progress lines of a run, if any."""
    *progress, err = capsys.readouterr().err.rstrip("\n").split("\n")
    assert code == 2, err
    assert all(line.startswith("[") for line in progress), progress
    assert err.startswith("studio: ") and name in err and re.search(expected, err), err


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_refused_model_is_one_line_exit_2(models, capsys, name):
    before = _snapshot(models["empty.onnx"].parent)
    _one_line_error(capsys, cli.main(["inspect", str(models[name])]), name, REFUSED[name])
    assert _snapshot(models["empty.onnx"].parent) == before


@pytest.mark.parametrize("name", list(OPEN_WITH_NOTE))
def test_a_broken_model_that_opens_says_what_is_wrong(models, capsys, name):
    assert cli.main(["inspect", "--json", str(models[name])]) == 0
    notes = " ".join(json.loads(capsys.readouterr().out)["notes"])
    assert re.search(OPEN_WITH_NOTE[name], notes), notes


EXPECTED_FAILURE = {
    "dangling.onnx": "ghost",
    "custom_op.onnx": "nothing to prune",  # FancyMatMul is no weight op the studio knows
    "opset_too_new.onnx": "ONNX Runtime cannot run this model",
    "nan_weights.onnx": "NaN or infinite: prune needs",
}


@pytest.mark.parametrize("name", list(EXPECTED_FAILURE))
def test_compressing_a_broken_model_is_one_line_and_writes_nothing(models, tmp_path, capsys, name):
    recipe = tmp_path / "r.json"
    out = tmp_path / "out.onnx"
    recipe.write_text(json.dumps({"model": str(models[name]), "steps": [{"prune": {"sparsity": 0.5}}, {"quantize": {"mode": "dynamic"}}],
                                  "export": {"path": str(out)}}))
    _one_line_error(capsys, cli.main(["run", str(recipe)]), "", EXPECTED_FAILURE[name])
    assert not out.exists()


@pytest.mark.parametrize("name", list(BAD_DATA))
def test_bad_data_is_one_line_exit_2(tmp_path, capsys, name):
    path = bad_data(tmp_path / "data")[name]
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"model": "sample:lenet-5", "data": str(path), "steps": [{"finetune": {"epochs": 1}}]}))
    _one_line_error(capsys, cli.main(["run", str(recipe)]), name, BAD_DATA[name])


@pytest.mark.parametrize("name", list(BAD_RECIPES))
def test_bad_recipes_are_one_line_exit_2(tmp_path, capsys, name):
    path = bad_recipes(tmp_path)[name]
    _one_line_error(capsys, cli.main(["run", str(path)]), path.name, BAD_RECIPES[name][1])
