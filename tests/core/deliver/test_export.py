import json
import os

import onnx
import pytest

from studio.core.compress.prune import magnitude
from studio.core.deliver import export
from studio.core.deliver.deploy import export_version
from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.formats.model import Format
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import run_to_end


@pytest.fixture(scope="module")
def digits():
    return load_data("sample:digits")


def test_failed_write_leaves_existing_files_untouched(tmp_path, digits, monkeypatch):
    path = tmp_path / "m.onnx"
    old = {path: b"old model", path.with_name("m.card.json"): b"old card", path.with_name("m.onnx.zip"): b"old zip"}
    for p, data in old.items():
        p.write_bytes(data)
    real_replace = os.replace
    calls = []

    def fail_after_staging(src, dst):
        calls.append(src)
        assert os.path.getsize(src) > 0  # the new file was written beside the target
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "replace", fail_after_staging)
    with pytest.raises(StudioError, match="cannot write the export \\(No space left on device\\)"):
        run_to_end(export_version(load_model("sample:digits-cnn"), path, digits, with_zip=True))
    monkeypatch.setattr(export.os, "replace", real_replace)
    assert calls
    assert {p: p.read_bytes() for p in old} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in old)  # no temporary file left


def test_pruned_weights_stored_sparse_make_a_smaller_file_ort_runs(tmp_path):
    data = load_data("sample:mnist5k")
    pruned = to_onnx(magnitude(load_model("sample:lenet-300-100"), 0.9))
    dense = run_to_end(export_version(pruned, tmp_path / "dense.onnx", data))
    sparse = run_to_end(export_version(pruned, tmp_path / "sparse.onnx", data, sparse=True))
    assert sparse["size_bytes"] < 0.4 * dense["size_bytes"]
    assert sparse["metrics"]["parity"]["max_abs_diff"] <= 1e-5
    assert sparse["metrics"]["accuracy"] == dense["metrics"]["accuracy"]
    proto = onnx.load(tmp_path / "sparse.onnx")
    assert {s.values.name for s in proto.graph.sparse_initializer} == {"fc1.weight", "fc2.weight"}
    assert json.loads((tmp_path / "sparse.card.json").read_text())["sparse_initializers"] == 2
    assert load_model(str(tmp_path / "sparse.onnx")).format is Format.ONNX


def test_written_files_get_the_usual_mode_not_mkstemps_private_one(tmp_path):
    import os
    import stat

    from studio.core.deliver.export import write_files

    old = os.umask(0o022)
    try:
        write_files({tmp_path / "a.onnx": b"x", tmp_path / "sub" / "b.json": b"{}"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.onnx").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "sub" / "b.json").stat().st_mode) == 0o644
