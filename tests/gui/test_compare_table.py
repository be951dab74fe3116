"""Comparing two versions' time in the Time tab: "Compare with" profiles whichever of the two has no
profile yet, in the background, then shows the sentence and the layers by change, faster rows green and
slower ones red; clicking a row selects its layer; showing the version compared with ends it."""

from conftest import RUN_TIMEOUT_MS

from studio.core.evaluate.profile import NodeTime, Profile
from studio.core.evaluate.profile_compare import compare
from studio.gui.inspect.layer_table import TIME
from studio.gui.profile.compare_table import FASTER, ONLY, SLOWER, ComparisonView


def _choose(panel, vid):
    combo = panel.compare_choice
    i = combo.findData(vid)
    assert i >= 0, [combo.itemText(k) for k in range(combo.count())]
    combo.setCurrentIndex(i)
    combo.activated.emit(i)


def test_compare_with_profiles_both_versions_and_shows_the_layers_by_change(studio, run_sheet, qtbot):
    window = studio
    session, profiling = window.compression.session, window.compression.profiling
    panel = profiling.panel
    assert panel.comparison.isHidden() and not panel.compare_choice.isEnabled()  # one version: nothing to compare with
    run_sheet(window, "quantize", lambda sheet: sheet.form.set_value("mode", "static"))
    original, quantized = session.history.versions[0], session.version
    combo = panel.compare_choice
    assert combo.isEnabled() and combo.itemText(combo.findData(0)) == f"{original.label} (profile it)"

    finished = []
    session.runner.finished.connect(finished.append)
    _choose(panel, 0)  # neither is profiled: the one shown first, then the other
    qtbot.waitUntil(lambda: panel.comparison.comparison is not None, timeout=2 * RUN_TIMEOUT_MS)
    session.runner.finished.disconnect(finished.append)
    assert len(finished) == 2 and profiling.profile_of(original.model) and profiling.profile_of(quantized.model)
    assert panel.bars is not None  # the version shown got its own profile on the way
    assert not panel.comparison.isHidden() and panel.compare_hint.isHidden()
    c = panel.comparison.comparison
    assert c.before == original.label and c.after == quantized.label
    sentence = panel.comparison.sentence.text()
    assert sentence.startswith(f"{quantized.label} runs ") and original.label in sentence and "ms)" in sentence
    rows = panel.comparison.rows()
    assert {"conv1", "conv2", "fc1", "fc2"} <= {r[0] for r in rows} and all(r[1] and r[2] for r in rows)
    assert combo.itemText(combo.currentIndex()) == original.label  # profiled now

    with qtbot.waitSignal(window.layerChanged):
        table = panel.comparison.table
        row = next(i for i, r in enumerate(rows) if r[0] == "conv2")
        table.itemClicked.emit(table.item(row, 2))
    assert window.layer == "node_conv2d_1"  # the int8 ONNX version names its layers after its graph's nodes

    with qtbot.waitSignal(window.modelChanged, timeout=RUN_TIMEOUT_MS):
        session.select(0)  # the version compared with, shown: nothing to compare
    qtbot.waitUntil(panel.comparison.isHidden)
    assert profiling.compare_vid is None and combo.currentData() is None
    table = window.table.model  # its profile, made to compare while it was not shown, is on its layers now
    assert all(table.index(r, TIME).data() for r in range(table.rowCount()))


def test_the_table_colours_faster_and_slower_layers_and_lists_nodes_of_one_version_apart(qtbot):
    def profile(nodes, latency):
        times = [NodeTime(name, op, ms, 0.0, "CPUExecutionProvider", [name], name) for name, op, ms in nodes]
        return Profile("m", "CPUExecutionProvider", 1, 1, "data", 5, latency, latency, latency, times, {}, 0.1)

    c = compare(profile([("conv", "Conv", 2.0), ("fc", "Gemm", 1.0), ("pool", "MaxPool", 0.5)], 3.5),
                profile([("conv_quant", "ConvInteger", 1.0), ("fc", "QGemm", 1.5), ("pool", "MaxPool", 0.5),
                         ("x_QuantizeLinear", "DynamicQuantizeLinear", 0.25)], 3.4), "v0 original", "v1 int8")
    view = ComparisonView()
    qtbot.addWidget(view)
    view.show_comparison(c)
    assert view.rows() == [("conv", "2", "1", "−1", "2.0× faster"), ("pool", "0.5", "0.5", "0", "same"),
                           ("fc", "1", "1.5", "+0.5", "1.5× slower"), ("x_QuantizeLinear", "—", "0.25", "+0.25", "only in v1 int8")]
    fills = [view.table.item(i, 0).background().color() for i in range(4)]
    assert fills[0] == FASTER and fills[2] == SLOWER and fills[3] == ONLY and fills[1] not in (FASTER, SLOWER, ONLY)
    assert "v1 int8 runs about as fast as v0 original" in view.sentence.text()
    assert "ConvInteger" in view.table.item(0, 0).toolTip()
    view.show_message("Profiling v1 in the background…")
    assert view.table.isHidden() and view.comparison is None
