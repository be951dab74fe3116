import os

import pytest

from studio.core.evaluate.measure import zipped, zipped_size


@pytest.mark.parametrize("data", [b"", b"abc" * 1000, os.urandom(9_000_001)])
def test_zipped_size_is_the_length_of_the_zip_whatever_the_pieces(data):
    expected = len(zipped("model", data))
    assert zipped_size("model", [data]) == expected
    assert zipped_size("model", [data[:7], b"", data[7:]]) == expected


def test_large_data_is_deflated_in_parallel_blocks_to_within_a_hundredth_of_a_percent(monkeypatch):
    import numpy as np

    from studio.core.evaluate import measure

    weights = np.random.default_rng(0).standard_normal(3_000_000).astype(np.float32)
    weights[::3] = 0  # compressible, as a pruned model is
    data = weights.tobytes()
    blocks = []
    deflate = measure._deflated_length
    monkeypatch.setattr(measure, "PARALLEL_FROM", 0)
    monkeypatch.setattr(measure, "_deflated_length", lambda *a: (blocks.append(len(a[0])), deflate(*a))[1])
    size = zipped_size("model", [data[:5], data[5:]], threads=2)
    assert len(blocks) == 4 and sum(blocks) == len(data)
    assert size == pytest.approx(len(zipped("model", data)), rel=1e-4)


def test_a_converted_model_weighs_what_its_export_will(tmp_path):
    """A file whose nodes carry long doc strings (torch's exporter writes stack traces there): its
    PyTorch version's weights alone would say it shrank by a third."""
    import onnx
    from onnx_cases import constant_node_onnx

    from studio.core.evaluate.measure import size_metrics
    from studio.core.formats.load import load_model
    from studio.core.formats.onnx_to_torch import back_to_onnx, onnx_to_torch

    constant_node_onnx(tmp_path / "m.onnx")
    proto = onnx.load(tmp_path / "m.onnx")
    for node in proto.graph.node:
        node.doc_string = "File \"model.py\", line 1, in forward\n" * 8
    onnx.save(proto, tmp_path / "doc.onnx")
    converted = onnx_to_torch(load_model(str(tmp_path / "doc.onnx")))
    exported = len(back_to_onnx(converted).onnx.SerializeToString())
    assert size_metrics(converted)["size_bytes"] == pytest.approx(exported, rel=0.2)  # within the header of a tiny model's weights


def test_a_weight_both_branches_of_an_if_read_counts_once_in_a_converted_version(tmp_path):
    """Each branch module holds its own copy of an outer weight (as Silero's two LSTMs do): the version's
    parameters and size are those of the file it writes, where the weight is stored once."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from studio.core.evaluate.measure import size_metrics
    from studio.core.formats.load import load_model
    from studio.core.formats.onnx_to_torch import back_to_onnx, onnx_to_torch

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32), "w")

    def branch(name: str, op: str):
        return helper.make_graph([helper.make_node("MatMul", ["x", "w"], [f"{name}_h"], name=f"{name}_fc"),
                                  helper.make_node(op, [f"{name}_h"], [f"{name}_y"])], name, [],
                                 [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, ["N", 64])])

    graph = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=branch("a", "Relu"), else_branch=branch("b", "Neg"))], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64]), helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 64])], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "shared.onnx")
    model = load_model(str(tmp_path / "shared.onnx"))
    converted = onnx_to_torch(model)
    assert sum(p.numel() for p in converted.module.parameters()) == 2 * 64 * 64  # a copy in each branch
    measured = size_metrics(converted)
    assert measured["parameters"] == size_metrics(model)["parameters"] == 64 * 64
    assert measured["size_bytes"] == pytest.approx(len(back_to_onnx(converted).onnx.SerializeToString()), abs=256)
