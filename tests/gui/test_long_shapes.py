"""Shapes whose axes are long formulas (an exporter's symbolic sizes) show as ? in the Model panel and on
graph boxes, the formula in full in their tooltips; so do the sizes shape inference names unk__N, which
tooltips leave out."""

import onnx
from onnx import TensorProto, helper

FORMULA = "floor(floor(height/2 - 1/2)/2) + 1"


def pooled_model(path):
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
             helper.make_node("Relu", ["p"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "pooled", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "height", "width"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, FORMULA, FORMULA.replace("height", "width")])],
                              value_info=[helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 3, FORMULA, "unk__3"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_long_axes_show_as_a_question_mark_and_are_spelled_out_in_tooltips(make_window, load, tmp_path):
    window = make_window()
    info = load(window, pooled_model(tmp_path / "pooled.onnx"))
    outputs = window.model_panel.details.values["Outputs"]
    assert outputs.text() == "y [N, 3, ?, ?] float32" and "floor" not in outputs.text()
    assert f"y: axis 2 = {FORMULA}" in outputs.toolTip()
    pool = next(n for n in info.graph.nodes if n.name == "pool")
    canvas = window.graph.canvas
    assert canvas._texts[pool.id][2] == "N×3×?×?"  # the box: no formula, no name shape inference made up
    assert f"axis 2 = {FORMULA}" in canvas.describe(pool.id) and "unk__" not in canvas.describe(pool.id)  # its tooltip


def test_a_converted_version_shows_its_files_inputs_which_it_exports(qtbot, tmp_path):
    """Inside, the converted module takes Silero's state batch-first; the Model panel shows the file's layout."""
    from onnx_cases import rate_branches_onnx

    from studio.core.formats.load import load_model
    from studio.core.formats.onnx_to_torch import onnx_to_torch
    from studio.core.process.jobs import run_to_end
    from studio.core.project.analysis import analyze
    from studio.gui.inspect.model_panel import ModelPanel

    rate_branches_onnx(tmp_path / "rates.onnx")
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.show_model(run_to_end(analyze(onnx_to_torch(load_model(str(tmp_path / "rates.onnx"))))))
    assert "state [2, N, 3]" in panel.details.values["Inputs"].text()
