"""Property-based fuzzing of what reads untrusted input: any bytes, any YAML-like data gives a model, a
recipe, or one StudioError — never another exception."""

import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.errors import StudioError
from studio.core.formats.load import load_model
from studio.core.formats.samples import build_sample
from studio.core.project.recipe import parse_recipe

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_onnx_bytes() -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w])
    return helper.make_model(graph).SerializeToString()


VALID = _valid_onnx_bytes()


def _load_or_refuse(path):
    try:
        load_model(str(path))
    except StudioError:
        pass


@FUZZ
@given(st.binary(min_size=1, max_size=2048))
def test_random_bytes_never_crash_the_loader(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("f") / "m.onnx"
    path.write_bytes(data)
    _load_or_refuse(path)


@FUZZ
@given(st.integers(0, len(VALID) - 1), st.integers(0, 255), st.integers(1, len(VALID)))
def test_mutated_and_truncated_onnx_never_crashes_the_loader(tmp_path_factory, pos, byte, cut):
    mutated = bytearray(VALID)
    mutated[pos] = byte
    path = tmp_path_factory.mktemp("f") / "m.onnx"
    path.write_bytes(bytes(mutated[:cut]))
    _load_or_refuse(path)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_steps = st.lists(st.dictionaries(st.sampled_from(["prune", "finetune", "distill", "quantize", "x"]),
                                  st.dictionaries(st.sampled_from(["sparsity", "method", "epochs", "lr", "scope", "ratio", "junk"]), _values, max_size=3),
                                  min_size=1, max_size=1), max_size=3)


@FUZZ
@given(st.dictionaries(st.sampled_from(["model", "data", "device", "steps", "export", "extra"]), _values | _steps, max_size=5))
def test_any_recipe_is_parsed_or_refused_in_one_line(raw):
    try:
        parse_recipe(raw)
    except StudioError as e:
        assert "\n" not in str(e)


def test_a_real_model_survives_the_same_treatment(tmp_path):
    import torch

    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(build_sample("digits-cnn")), path)
    data = path.read_bytes()
    for cut in (100, len(data) // 2, len(data) - 10):
        (tmp_path / "cut.pt").write_bytes(data[:cut])
        _load_or_refuse(tmp_path / "cut.pt")
    assert onnx.load_from_string(VALID).graph.node[0].op_type == "MatMul"
