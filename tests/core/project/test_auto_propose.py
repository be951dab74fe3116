"""auto_propose: what the automatic search tries, without running it: sizing a family on its ladder, the
quantization kept after pruning, and candidates' names."""

from studio.core.project.auto_goal import Goal
from studio.core.project.auto_propose import Family, best_tail, name_of, quantize


def test_sizing_bisects_the_ladder_and_takes_the_smallest_amount_that_reaches():
    goal = Goal(smaller=10)
    f = Family("channels", [])
    sizes = {0.25: 2, 0.4: 3, 0.5: 5, 0.6: 8, 0.7: 11, 0.8: 20, 0.9: 40}
    probed = []
    while (amount := f.next_probe()) is not None:
        probed.append(amount)
        f.record(goal, amount, {"smaller": sizes[amount], "drop": 50})
    assert f.amount == 0.7 and f.reachable and len(probed) <= 3


def test_sizing_that_never_reaches_keeps_the_closest_probe():
    goal = Goal(smaller=100)
    f = Family("channels", [])
    sizes = {0.6: 8, 0.8: 24, 0.9: 7}  # rounding to 8 channels makes the top of the ladder larger
    while (amount := f.next_probe()) is not None:
        f.record(goal, amount, {"smaller": sizes.get(amount, 1), "drop": 50})
    assert not f.reachable and f.amount == 0.8


def test_the_tail_after_pruning_is_the_cheap_quantization_that_went_furthest():
    goal = Goal(smaller=8, max_drop=1)
    tried = [([quantize("static", 0.01)], {"smaller": 4.0, "drop": 0.2}),
             ([quantize("dynamic", 0.01)], {"smaller": 4.1, "drop": 0.1}),
             ([quantize("fp16")], {"smaller": 2.0, "drop": 0.0})]
    assert best_tail(goal, tried)[0][1]["mode"] == "dynamic"
    assert best_tail(goal, [(s, {**m, "drop": 3.0}) for s, m in tried]) == []  # int8 costs too much: prune alone


def test_candidates_are_named_in_a_few_words():
    steps = [("prune", {"method": "channels", "ratio": 0.5}), ("finetune", {"epochs": 1}), ("finetune", {"epochs": 2}),
             ("quantize", {"mode": "static"})]
    assert name_of(steps) == "channels −50% + fine-tune 3 ep + static int8"
    assert name_of([("prune", {"sparsity": 0.975, "layers": {"fc1": 0.99}})]) == "sparsity 97.5% by layer sensitivity"
    assert name_of([]) == "original (fp32 ONNX export)"


def test_an_onnx_model_may_lose_channels_and_teach_a_slimmer_student_through_its_conversion():
    from dataclasses import replace

    from studio.core.evaluate.data import load_data
    from studio.core.formats.load import load_model
    from studio.core.formats.model import Format
    from studio.core.formats.to_onnx import to_onnx
    from studio.core.project.auto_propose import allowed

    data = load_data("sample:digits")
    ok = allowed(to_onnx(load_model("sample:digits-cnn")), data)
    assert ok.channels and ok.distill and ok.trains
    ok = allowed(replace(load_model("sample:digits-cnn"), format=Format.TORCHSCRIPT), data)
    assert not ok.channels and "TorchScript code is fixed" in ok.why_not["prune_structured"]
