"""How models travel from a forked job back to the window: a torch.export program as its weights, an
ONNX model's large weights beside its proto."""

from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto
from onnx_cases import two_layer_onnx

from studio.core.evaluate import runtime
from studio.core.formats import transfer
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import full_onnx
from studio.core.process import isolated as iso
from studio.core.process.jobs import CancelToken, run_to_end


def travelled(model):
    """The model as the window receives it from a child."""
    return iso.loads(iso.dumps(model))


def _pruned(model, cancel):
    from studio.core.compress.prune import magnitude

    yield from ()
    return model, magnitude(model, 0.5)


@pytest.mark.skipif(not iso.FORKS, reason="jobs fork only on Linux")
@pytest.mark.parametrize("external", [False, True], ids=["weights-inline", "external-data"])
def test_onnx_weights_travel_apart_from_the_proto(tmp_path, external):
    """A large ONNX weight comes back beside a small proto, as an opened model's external data does."""
    from studio.core.inspect.layers import layers_of

    model = load_model(str(two_layer_onnx(tmp_path / "mlp.onnx", external)))
    original, pruned = run_to_end(iso.isolated(_pruned)(model, cancel=CancelToken()))
    here = run_to_end(_pruned(load_model(str(two_layer_onnx(tmp_path / "again.onnx", external))), CancelToken()))[1]
    where = "mlp.onnx.data" if external else transfer.TRANSFER  # kept apart since it was opened, or sent apart
    assert all(key[0] == where for key in pruned.external) and pruned.external and original.external
    for got, want in zip(layers_of(pruned), layers_of(here)):
        assert got.name == want.name and got.weights.keys() == want.weights.keys()
        assert all(np.array_equal(got.weights[k], want.weights[k]) for k in got.weights)
    x = {"x": np.random.default_rng(1).standard_normal((4, 1024), dtype=np.float32)}
    assert np.array_equal(runtime.predict(pruned, x), runtime.predict(here, x))
    assert np.array_equal(runtime.predict(original, x), runtime.predict(model, x))
    weights = {t.name: t.raw_data for t in full_onnx(pruned).graph.initializer}  # put back into the proto on demand
    assert not pruned.external and weights == {t.name: t.raw_data for t in full_onnx(here).graph.initializer}


def test_a_large_weight_travels_as_raw_bytes_and_a_small_one_inside_the_proto(tmp_path):
    model = load_model(str(two_layer_onnx(tmp_path / "mlp.onnx")))
    x = {"x": np.random.default_rng(0).standard_normal((3, 1024), dtype=np.float32)}
    expected = runtime.predict(model, x)
    sent = replace(model, onnx=onnx.ModelProto.FromString(model.onnx.SerializeToString()))  # the child gives its proto's weights up
    got = travelled(sent)
    where = {t.name: t.data_location for t in got.onnx.graph.initializer}
    assert where == {"w1": TensorProto.EXTERNAL, "w2": TensorProto.DEFAULT}  # 1.5 MB apart, 96 kB inside
    assert [key[0] for key in got.external] == [transfer.TRANSFER] and got.onnx.ByteSize() < transfer.APART_BYTES // 10
    assert np.array_equal(runtime.predict(got, x), expected)
    assert not got.external and full_onnx(got).ByteSize() > transfer.APART_BYTES  # the weights went into the proto on demand


def test_a_version_sends_only_the_weights_its_own_proto_refers_to(tmp_path):
    opened = load_model(str(two_layer_onnx(tmp_path / "mlp.onnx", external=True)))
    assert [key[0] for key in opened.external] == ["mlp.onnx.data"]
    inline = onnx.load(str(tmp_path / "mlp.onnx"))  # its weights read into the proto, as a changed version's are
    version = replace(opened, onnx=inline)  # shares the opened model's dict of external weights
    apart = []
    message = iso.dumps(replace(opened, onnx=onnx.load(str(tmp_path / "mlp.onnx"))), apart.append)
    assert len(message) < transfer.APART_BYTES // 10 and sum(b.raw().nbytes for b in apart) > transfer.APART_BYTES  # the weights travel once, apart
    got = travelled(version)
    assert [key[0] for key in got.external] == [transfer.TRANSFER]
    assert opened.external and [key[0] for key in opened.external] == ["mlp.onnx.data"]  # the source keeps its own


def test_a_torch_export_program_travels_with_the_weights_of_its_module(files):
    model = load_model(str(files["pt2"]))
    with torch.no_grad():
        model.module.fc2.bias.zero_()  # a version's weights differ from the program's
    got = travelled(model)
    assert torch.equal(got.module.fc2.bias, torch.zeros(10))
    got.module.eval()  # a module the studio can switch, as the loader makes it
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(got.module(x), model.module(x))


def test_other_values_are_left_to_the_usual_pickling():
    assert transfer.reduce_model(load_model("sample:digits-cnn")) is None
    assert transfer.reduce_model({"not": "a model"}) is None


def test_a_converted_model_travels_to_a_process_that_never_imported_onnx2torch(tmp_path):
    """The window's process has not imported onnx2torch when a forked job sends a converted version back:
    unpickling its module must import onnx2torch the studio's way (torchvision does not import here)."""
    import subprocess
    import sys

    from studio.core.formats.load import load_model
    from studio.core.formats.onnx_to_torch import onnx_to_torch
    from studio.core.formats.to_onnx import to_onnx
    from studio.core.process import isolated

    converted = onnx_to_torch(to_onnx(load_model("sample:digits-cnn")))
    (tmp_path / "model.pickle").write_bytes(isolated.dumps(converted))  # as a forked job sends it
    script = ("import pickle, sys, numpy as np; import studio.core.formats; "
              "from studio.core.evaluate.runtime import predict; "
              "m = pickle.loads(open(sys.argv[1], 'rb').read()); "
              "print(m.format.value, predict(m, {'input': np.zeros((2, 1, 8, 8), np.float32)}).shape)")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.pickle")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["onnx-converted", "(2,", "10)"]
