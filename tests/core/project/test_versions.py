import yaml

from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.process.jobs import CancelToken, run_to_end
from studio.core.project.recipe import StepResult, parse_recipe, run_recipe, run_step, step_metrics
from studio.core.project.steps import OPS, Context
from studio.core.project.versions import History


def test_window_actions_become_a_replayable_recipe():
    model = load_model("sample:digits-cnn")
    data = load_data("sample:digits")
    ctx = Context(data, "cpu", CancelToken(), model)
    metrics, logits = step_metrics(model, data, None, "cpu")
    history = History()
    root = history.add(StepResult("load", {}, "original", model, metrics, logits), None, "v0 original")
    options = OPS["prune"].validate("prune", {"sparsity": 0.6})
    pruned = history.add(run_to_end(run_step(root.result, "prune", options, ctx)), root.id)
    history.add(run_to_end(run_step(root.result, "prune", OPS["prune"].validate("prune", {"sparsity": 0.3}), ctx)), root.id)
    assert [v.id for v in history.children(root.id)] == [1, 2]
    assert [v.id for v in history.lineage(pruned.id)] == [0, 1]
    recipe = history.recipe(pruned.id, "sample:digits")
    again = parse_recipe(yaml.safe_load(recipe.to_yaml()))
    replayed = run_to_end(run_recipe(again)).steps[-1]
    assert replayed.metrics["nonzero_parameters"] == pruned.metrics["nonzero_parameters"]
    assert replayed.metrics["accuracy"] == pruned.metrics["accuracy"]


def test_ids_of_deleted_versions_are_never_reused():
    history = History()
    for parent in (None, 0, 1):
        history.add(StepResult("load", {}, "step", None, {}), parent)
    del history.versions[2]
    assert history.add(StepResult("load", {}, "again", None, {}), 1).id == 3
