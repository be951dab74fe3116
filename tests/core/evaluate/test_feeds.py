import numpy as np
import pytest
from real_inputs import fixed_batch_of_one, state_on_axis_one, tokens_and_scalar

from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet, load_data
from studio.core.evaluate.feeds import cast_for
from studio.core.evaluate.runtime import predict_outputs
from studio.core.formats.model import TensorSpec, batch_axes


def test_token_ids_stay_integers_and_a_scalar_goes_with_every_batch(tmp_path):
    model = tokens_and_scalar(tmp_path)
    ids = np.arange(30, dtype=np.int32).reshape(10, 3)  # int32 on disk: widened to the int64 the model declares
    np.savez(tmp_path / "d.npz", ids=ids, scale=np.array(3, np.int64))
    data = load_data({"path": str(tmp_path / "d.npz"), "labels": "none"})
    assert data.x["ids"].dtype == np.int32 and len(data) == 10 and len(data.test()) == 2
    shaped = data.shaped_for(model.inputs)
    assert shaped.x["ids"].dtype == np.int64 and shaped.x["scale"].ndim == 0
    (out,) = predict_outputs(model, shaped.x, batch=4)
    assert np.array_equal(out, ids * 3)


def test_an_input_whose_batch_is_its_second_axis(tmp_path):
    model = state_on_axis_one(tmp_path)
    assert batch_axes(model.inputs) == {"x": 0, "state": 1}
    rng = np.random.default_rng(0)
    x, state = rng.random((7, 4), np.float32), rng.random((7, 2, 4), np.float32)  # examples on axis 0 in the data
    y, state_out = predict_outputs(model, {"x": x, "state": state}, batch=3)
    assert np.allclose(y, x + state.sum(1)) and np.array_equal(state_out, state)


def test_a_fixed_batch_of_one_runs_example_by_example(tmp_path):
    model = fixed_batch_of_one(tmp_path)
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    (y,) = predict_outputs(model, DataSet("d", {"x": x}, None).shaped_for(model.inputs).x)
    assert np.array_equal(y, 2 * x)


@pytest.mark.parametrize("arr, dtype, ok", [
    (np.array([1.0, 2.0]), "int64", True),  # whole numbers
    (np.array([1.5]), "int64", False),
    (np.array([0, 1]), "bool", True),
    (np.array([1, 2], np.int64), "float32", True),
    (np.array([3]), "bool", False),
])
def test_casts_only_where_safe(arr, dtype, ok):
    spec = TensorSpec("ids", ("batch",), dtype)
    if ok:
        assert cast_for(arr, spec, "d").dtype.name == ("bool" if dtype == "bool" else dtype)
    else:
        with pytest.raises(StudioError, match="takes"):
            cast_for(arr, spec, "d")
