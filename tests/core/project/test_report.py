from studio.core.compress.prune import magnitude
from studio.core.formats.load import load_model
from studio.core.project.project_file import Project
from studio.core.project.recipe import StepResult
from studio.core.project.report import versions_table, write_report
from studio.core.project.versions import History


def test_report_lists_versions_layers_and_charts(tmp_path):
    model = load_model("sample:digits-cnn")
    history = History()
    v0 = history.add(StepResult("load", {}, "original", model, {"parameters": 10, "nonzero_parameters": 10, "size_bytes": 1000, "zip_bytes": 900, "accuracy": 0.98}), None, "v0 original")
    pruned = magnitude(model, 0.5)
    history.add(StepResult("prune", {"sparsity": 0.5}, "pruned 50%", pruned, {"parameters": 10, "nonzero_parameters": 5, "size_bytes": 1000, "zip_bytes": 500, "accuracy": 0.97}), v0.id)
    history.add(StepResult("prune", {}, "worse", pruned, {"size_bytes": 2000, "accuracy": 0.5}), v0.id, "v2 worse")
    (tmp_path / "pareto.png").write_bytes(b"png")
    path = write_report(Project(history, "sample:digits", current=1), tmp_path, {"Size against accuracy": "pareto.png"})
    text = path.read_text()
    assert "| v1 pruned 50% | pruned 50% |" in text and "![Size against accuracy](pareto.png)" in text
    assert "## Layers of v1 pruned 50%" in text and "| conv1 | Conv2d |" in text
    stars = {row[0]: row[-1] for row in versions_table(Project(history))[1:]}
    assert stars == {"v0 original": "★", "v1 pruned 50%": "", "v2 worse": ""}
