"""What `studio inspect` prints: one dict for text and --json, and its text form."""

import json
from dataclasses import replace

import pytest
import torch

from studio.core.compress.prune import magnitude
from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.formats.to_onnx import to_onnx
from studio.core.inspect.graph import Graph
from studio.core.inspect.stats import WeightStats
from studio.core.inspect.summary import format_text, human_bytes, notes, summarize


@pytest.fixture(scope="module")
def lenet():
    return load_model("sample:lenet-5")


def test_the_summary_of_a_sample(lenet):
    s = summarize(lenet)
    assert (s["source"], s["format"], s["parameters"], s["nonzero_parameters"], s["sparsity"]) == (
        "sample:lenet-5", "sample", 431_080, 431_080, 0.0)
    assert s["weight_bytes_by_dtype"] == {"float32": 4 * 431_080} and s["size_bytes"] == lenet.size_bytes
    assert [(r["name"], r["type"], r["parameters"]) for r in s["layers"]] == [
        ("conv1", "Conv2d", 520), ("conv2", "Conv2d", 25_050), ("fc1", "Linear", 400_500), ("fc2", "Linear", 5_010)]
    assert s["inputs"] == [{"name": "input", "shape": ["batch", 1, 28, 28], "dtype": "float32"}]
    assert s["graph_nodes"] == 10 and all(c["allowed"] for c in s["capabilities"].values())
    assert json.loads(json.dumps(s)) == s  # plain data: the --json output


def test_a_pruned_version_reports_its_zeros(lenet):
    s = summarize(magnitude(lenet, 0.5))
    assert s["sparsity"] == pytest.approx(0.5, abs=0.01) and s["nonzero_parameters"] < s["parameters"] == 431_080
    assert f"  parameters  431,080 ({s['sparsity']:.1%} zeros)" in format_text(s).splitlines()


def test_the_text_lists_the_signature_the_layers_and_the_notes(lenet):
    text = format_text(summarize(lenet)).splitlines()
    assert text[0] == "sample:lenet-5"
    assert "  format      bundled sample (PyTorch module)" in text and "  size        1.7 MB on disk" in text
    assert "  inputs      input [batch, 1, 28, 28] float32" in text
    assert any(line.startswith("  note: Caffe LeNet-5") for line in text)
    assert [line.split()[0] for line in text[-4:]] == ["conv1", "conv2", "fc1", "fc2"]


def test_a_long_layer_name_keeps_its_beginning_and_its_end(lenet):
    """Silero's layers share 'If_0/else_branch/If_0_else_branch__Inline_0__/' and differ at the end."""
    summary = summarize(lenet)
    summary["layers"] = [{**row, "name": f"If_0/else_branch/If_0_else_branch__Inline_0__/encoder/{i}/reparam_conv/Conv"}
                         for i, row in enumerate(summary["layers"])]
    rows = format_text(summary).splitlines()[-4:]
    assert [row.split()[0] for row in rows] == [f"If_0/else_branch…0__/encoder/{i}/reparam_conv/Conv" for i in range(4)]


def test_refused_operations_are_grouped_by_their_reason(lenet):
    exported = to_onnx(lenet)
    text = format_text(summarize(replace(exported, inputs=[replace(exported.inputs[0], shape=(1, 1, 28, 28))])))
    assert "  no structured pruning, fine-tuning / training as a student: its file fixes the batch to 1" in text  # one line
    weights = Model("w.pt", Format.STATE_DICT, state_dict={"fc.weight": torch.ones(3, 4)}, notes=["weights only"])
    lines = [line for line in format_text(summarize(weights)).splitlines() if line.startswith("  no ")]
    assert len(lines) == 1 and "unstructured pruning, structured pruning, fine-tuning" in lines[0]  # one reason, one line


def test_an_unknown_signature_is_shown_as_such():
    model = Model("net.pt", Format.PICKLED_MODULE, inputs=[TensorSpec("x", None)], module=torch.nn.Linear(4, 2))
    text = format_text(summarize(model))
    assert "  inputs      x ? float32" in text and "  outputs     ? ?" in text


def test_notes_add_the_graphs_and_broken_weights_once():
    model = Model("m", Format.ONNX, notes=["from the loader", "no graph"])
    total = WeightStats(parameters=10, nonfinite=3)
    assert notes(model, total, Graph(note="no graph")) == [
        "from the loader", "no graph", "3 weights are NaN or infinite: no operation will run on them until the model is fixed"]
    assert notes(model, WeightStats(parameters=10), Graph()) == ["from the loader", "no graph"]


@pytest.mark.parametrize("n, text", [(0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (1_724_920, "1.7 MB"),
                                     (3.2e9, "3.2 GB"), (5e12, "5000.0 GB")])
def test_sizes_are_in_decimal_units(n, text):
    assert human_bytes(n) == text
