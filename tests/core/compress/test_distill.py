import pytest

from studio.core.compress.distill import distill, make_student
from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.evaluate.metrics import evaluate
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import run_to_end
from studio.core.project.recipe import parse_recipe, run_recipe


@pytest.fixture(scope="module")
def teacher():
    return load_model("sample:digits-cnn")


def test_width_student_is_a_slimmer_copy(teacher):
    student = make_student(teacher, {"width": 0.25})
    assert sum(p.numel() for p in student.module.parameters()) < 0.2 * sum(p.numel() for p in teacher.module.parameters())
    assert student.module.conv1.out_channels == 4


def test_distillation_beats_the_untrained_student_in_a_short_budget(teacher, digits):
    student = make_student(teacher, {"sample": "digits-cnn"})
    before = evaluate(student, digits.test())["accuracy"]
    events = []
    trained = run_to_end(distill(teacher, student, digits, epochs=3), events.append)
    after = evaluate(trained, digits.test())["accuracy"]
    assert after > before + 0.3
    epoch_ends = [e.metrics for e in events if "accuracy" in e.metrics]
    assert len(epoch_ends) == 3
    assert {"loss_distill", "loss_labels", "teacher_accuracy", "agreement"} <= set(epoch_ends[-1])
    assert sum(p.abs().sum() for p in student.module.parameters()) != sum(p.abs().sum() for p in trained.module.parameters())


def test_an_onnx_teacher_teaches_without_labels(teacher):
    onnx_teacher = to_onnx(teacher)
    unlabeled = load_data({"path": "sample:digits", "labels": "none"})
    student = make_student(teacher, {"sample": "digits-cnn"})
    events = []
    run_to_end(distill(onnx_teacher, student, unlabeled, epochs=2), events.append)
    agreement = [e.metrics["agreement"] for e in events if "agreement" in e.metrics]
    assert agreement[-1] > 0.5


def test_width_student_needs_a_pytorch_teacher(teacher):
    with pytest.raises(StudioError, match="width"):
        make_student(to_onnx(teacher), {"width": 0.5})
    with pytest.raises(StudioError, match="student"):
        make_student(teacher, {"colour": "red"})


def test_distill_recipe_step():
    r = parse_recipe({"model": "sample:digits-cnn", "data": "sample:digits",
                      "steps": [{"distill": {"student": {"width": 0.5}, "epochs": 2}}]})
    result = run_to_end(run_recipe(r))
    step = result.steps[0]
    assert step.label == "distilled into width 0.5"
    assert step.metrics["parameters"] < 38_282 and step.metrics["accuracy"] > 0.8


def test_no_slimmer_copy_of_a_teacher_whose_graph_branches(tmp_path):
    from onnx_cases import if_subgraph_onnx

    from studio.core.formats.onnx_to_torch import onnx_to_torch

    if_subgraph_onnx(tmp_path / "if.onnx")
    with pytest.raises(StudioError, match=r"slimmer copy is cut by removing channels, and .*If, Loop or Scan"):
        make_student(onnx_to_torch(load_model(str(tmp_path / "if.onnx"))), {"width": 0.5})
