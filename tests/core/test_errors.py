"""The one error a user sees: one line naming the file and the problem, whatever raised it."""

import pickle

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from studio.core.errors import StudioError, TrustRequired, first_line


def test_the_message_names_the_source_then_the_problem():
    e = StudioError("the file is empty", "model.onnx")
    assert str(e) == "model.onnx: the file is empty" and (e.problem, e.source) == ("the file is empty", "model.onnx")
    assert str(StudioError("no data chosen")) == "no data chosen"


@pytest.mark.parametrize("error", [StudioError("damaged", "m.pt"), StudioError("no source"), TrustRequired("runs code", "m.pt")])
def test_errors_travel_between_processes_with_their_parts(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and (back.problem, back.source) == (error.problem, error.source)
    assert str(back) == str(error)  # not "m.pt: m.pt: damaged"


def test_trust_required_is_a_studio_error():
    assert isinstance(TrustRequired("runs code", "m.pt"), StudioError)


def test_first_line_keeps_only_the_first_line():
    assert first_line(ValueError("shape mismatch\n  at line 3\n  at line 9")) == "shape mismatch"
    assert first_line(ValueError("  padded  \n")) == "padded"


def test_an_empty_message_is_named_by_its_type():
    assert first_line(KeyError()) == "KeyError" and first_line(RuntimeError("")) == "RuntimeError"


def test_a_long_line_is_cut_at_a_word_with_an_ellipsis():
    line = first_line(ValueError("word " * 100), limit=40)
    assert line.endswith("…") and len(line) <= 41 and line[:-1] == "word " * 7 + "word"
    assert first_line(ValueError("short"), limit=40) == "short"


def test_onnx_runtimes_prefixes_are_dropped_from_its_real_errors():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    session = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    with pytest.raises(Exception) as caught:
        session.run(None, {"x": np.zeros(3, np.float32)})
    assert first_line(caught.value) == "Got invalid dimensions for input: x for the following indices"
    with pytest.raises(Exception) as caught:
        ort.InferenceSession(b"not a model")
    assert first_line(caught.value).startswith("Failed to load model") and "ONNXRuntimeError" not in first_line(caught.value)


def test_the_cpp_source_place_and_signature_are_dropped():
    message = ("[ONNXRuntimeError] : 1 : FAIL : /onnxruntime_src/onnxruntime/core/graph/graph.cc:1482 "
               "void onnxruntime::Graph::InitializeStateFromModelFileGraphProto(bool) This is an invalid model. Type Error")
    assert first_line(RuntimeError(message)) == "This is an invalid model. Type Error"
    header = "include/op.h:12 int f(int a) Bad input"
    assert first_line(RuntimeError(header)) == "Bad input"
    assert first_line(RuntimeError("see file.cc:12 for details")) == "see file.cc:12 for details"  # only a leading place


def test_terminal_colours_are_dropped():
    assert first_line(RuntimeError("Failed to export. \x1b[96mThis is step 1/3\x1b[0m of exporting")) == "Failed to export. This is step 1/3 of exporting"
