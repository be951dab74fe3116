"""The one Model every loader returns: its signature, and which operations its format allows."""

import pytest

from studio.core.formats.load import load_model
from studio.core.formats.model import OPERATIONS, Capability, Format, Model, TensorSpec


def test_state_dict_says_there_is_no_architecture(files):
    model = load_model(str(files["state_dict"]))
    caps = model.capabilities()
    assert caps["inspect"].allowed
    assert not any(c.allowed for op, c in caps.items() if op != "inspect")
    assert "no architecture" in caps["prune_unstructured"].reason


def test_every_format_has_a_label_and_every_operation_a_name():
    assert all(f.label for f in Format) and len({f.label for f in Format}) == len(Format)
    assert Format("onnx") is Format.ONNX and Format.ONNX == "onnx"
    assert set(OPERATIONS) == {"inspect", "prune_unstructured", "prune_structured", "finetune", "quantize", "distill_teacher"}


def test_a_tensor_spec_becomes_json():
    assert TensorSpec("x", ("batch", None, 3), "int64").to_json() == {"name": "x", "shape": ["batch", None, 3], "dtype": "int64"}
    assert TensorSpec("y", None).to_json() == {"name": "y", "shape": None, "dtype": "float32"}


def test_the_name_is_the_last_part_of_the_source():
    assert Model("/models/v2/net.onnx", Format.ONNX).name == "net.onnx"
    assert Model("sample:lenet-5", Format.SAMPLE).name == "sample:lenet-5"


@pytest.mark.parametrize("inputs, known", [
    ([], False),
    ([TensorSpec("x", None)], False),
    ([TensorSpec("x", ("batch", 3)), TensorSpec("sr", ())], True),
    ([TensorSpec("x", (None, 3))], True),
    ([TensorSpec("x", (1, 3)), TensorSpec("y", None)], False),
])
def test_input_shapes_are_known_only_when_every_input_has_one(inputs, known):
    assert Model("m", Format.PICKLED_MODULE, inputs=inputs).input_shapes_known is known


def test_only_a_program_traced_at_a_fixed_batch_has_a_fixed_batch():
    fixed = Model("p.pt2", Format.EXPORTED_PROGRAM, inputs=[TensorSpec("x", (2, 1, 28, 28))])
    dynamic = Model("p.pt2", Format.EXPORTED_PROGRAM, inputs=[TensorSpec("x", ("s0", 1, 28, 28))])
    onnx = Model("m.onnx", Format.ONNX, inputs=[TensorSpec("x", (2, 1, 28, 28))])
    assert (fixed.fixed_batch, dynamic.fixed_batch, onnx.fixed_batch) == (2, None, None)
    assert Model("p.pt2", Format.EXPORTED_PROGRAM).fixed_batch is None
    finetune = fixed.capabilities()["finetune"]
    assert not finetune.allowed and "batches of 2" in finetune.reason
    assert dynamic.capabilities()["finetune"] == Capability(True)


def allowed(fmt: Format) -> set[str]:
    return {op for op, c in Model("m", fmt).capabilities().items() if c.allowed}


def test_what_each_format_allows():
    everything = set(OPERATIONS)
    assert allowed(Format.SAMPLE) == allowed(Format.PICKLED_MODULE) == everything
    assert allowed(Format.TORCHSCRIPT) == allowed(Format.EXPORTED_PROGRAM) == everything - {"prune_structured"}
    assert allowed(Format.ONNX) == allowed(Format.CONVERTED) == allowed(Format.HF_FOLDER) == everything  # onnx2torch is here
    assert allowed(Format.STATE_DICT) == {"inspect"}
    caps = Model("m", Format.ONNX).capabilities()
    assert "after conversion to PyTorch" in caps["prune_structured"].reason and "ONNX Runtime" in caps["distill_teacher"].reason
    assert Model("m", Format.SAMPLE).capabilities()["quantize"].reason == "through an ONNX export"
    assert all(c.reason for c in Model("m", Format.STATE_DICT).capabilities().values() if not c.allowed)
