"""profile_compare_text: a hand-made comparison in words (the sentence) and as the tables of
`studio profile --compare`."""

from studio.core.evaluate.profile_compare import Comparison, LayerChange
from studio.core.evaluate.profile_compare_text import format_compare, ratio, signed, speed, summary


def _row(name, before, after, ops=()):
    return LayerChange(name, before, after, before_ops=list(ops), after_ops=list(ops))


def test_the_sentence_names_the_slower_layers_a_few_at_a_time_and_what_one_version_holds_alone():
    slower = Comparison("v0", "v1", 4.0, 8.0, 10.0, 10.0, [_row("a", 1.0, 2.0), _row("b", 1.0, 1.9), _row("c", 1.0, 1.8),
                                                          _row("d", 1.0, 1.7)], [_row("old", 0.5, None, ["Softmax", "Cast"])], [], {})
    assert summary(slower) == ("v1 runs 2.0× slower than v0 (4 → 8 ms); 4 layers got slower: a (+1 ms), b (+0.9 ms), "
                               "c (+0.8 ms) and 1 more. Only in v0: 1 node (Softmax, Cast), 0.5 ms.")
    same = Comparison("v0", "v1", 2.0, 2.05, 10.0, 10.0, [_row("a", 1.0, 1.05)], [], [], {})
    assert summary(same) == "v1 runs about as fast as v0 (2 → 2.05 ms); no layer changed by more than profiling varies."
    assert speed(0.5) == "2.0× slower than" and speed(float("inf")) == "∞× faster than" and speed(12.0) == "12× faster than"
    assert signed(-0.9) == "−0.9" and signed(0.0) == "0" and signed(0.012) == "+0.012"  # a true minus


def test_the_tables_give_each_layer_its_change_and_call_noise_the_same():
    c = Comparison("v0 original", "v1 int8", 4.0, 2.0, 4.0, 2.0, [_row("conv1", 2.0, 1.0, ["Conv"]), _row("pool", 0.5, 0.52, ["MaxPool"])],
                   [], [LayerChange("extra", None, 0.25, after_ops=["Softmax"])], {"Conv": (2.0, 0.0), "ConvInteger": (0.0, 1.0)})
    lines = format_compare(c).splitlines()
    assert lines[0] == summary(c) and lines[2] == "layers, ms per profiled run less the profiler's cost per node: v0 original → v1 int8"
    assert [line.split() for line in lines[3:6]] == [["layer", "before", "after", "change", "×"],
                                                     ["conv1", "2", "1", "−1", "2.0×", "faster"],
                                                     ["pool", "0.5", "0.52", "+0.02", "same"]]  # 4 % of it: within noise
    assert lines[7] == "only in v1 int8" and lines[9].split() == ["extra", "Softmax", "0.25"]
    assert lines[-3:] == ["op           before  after", "Conv              2      0", "ConvInteger       0      1"]
    assert ratio(None) == "" and ratio(1.03) == "same" and ratio(0.5) == "2.0× slower"
