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
