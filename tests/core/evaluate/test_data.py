import numpy as np
import pytest
from PIL import Image

from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model


@pytest.mark.parametrize("name, n, shape", [("sample:digits", 1797, (1, 8, 8)), ("sample:mnist5k", 5000, (1, 28, 28))])
def test_samples_and_their_split(name, n, shape):
    d = load_data(name)
    assert len(d) == n and d.x["input"].shape[1:] == shape and d.labeled
    assert 0.0 <= d.x["input"].min() and d.x["input"].max() <= 1.0
    assert len(d.test()) == len(range(4, n, 5)) and len(d.train()) + len(d.test()) == n


def test_data_is_reshaped_for_the_model():
    d = load_data("sample:mnist5k").shaped_for(load_model("sample:lenet-300-100").inputs)
    assert d.x["input"].shape == (5000, 784)


def test_image_folder_of_mixed_sizes_and_modes(tmp_path):
    for cls, colour in [("cat", 30), ("dog", 200)]:
        (tmp_path / cls).mkdir()
        for i in range(5):
            size = (8 + i, 10) if i % 2 else (12, 12)
            Image.new("RGB" if i % 2 else "L", size, colour).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    d = load_data(str(tmp_path), image_size=(8, 8), grayscale=True)
    assert d.x["x"].shape == (10, 1, 8, 8) and d.classes == ["cat", "dog"]
    assert sorted(d.y.tolist()) == [0] * 5 + [1] * 5
    rgb = load_data(str(tmp_path), image_size=(6, 6))
    assert rgb.x["x"].shape == (10, 3, 6, 6)


def test_npz_plain_and_named_inputs(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 4)), y=np.arange(6))
    d = load_data(str(tmp_path / "d.npz"))
    assert d.x["x"].dtype == np.float32 and d.y.tolist() == list(range(6))
    np.savez(tmp_path / "multi.npz", a=np.zeros((3, 2)), b=np.ones((3, 5)))
    m = load_data(str(tmp_path / "multi.npz"))
    assert set(m.x) == {"a", "b"} and not m.labeled


def test_csv_with_labels_and_unlabeled(tmp_path):
    (tmp_path / "d.csv").write_text("f1,f2,label\n1,2,cat\n3,4,dog\n5,6,cat\n")
    d = load_data(str(tmp_path / "d.csv"))
    assert d.x["x"].tolist() == [[1, 2], [3, 4], [5, 6]] and d.y.tolist() == [0, 1, 0] and d.classes == ["cat", "dog"]
    u = load_data({"path": str(tmp_path / "d.csv"), "labels": "none"})
    assert not u.labeled


@pytest.mark.parametrize(
    "content, message",
    [
        ("f1,f2\n1,2\n", "no label column"),
        ("f1,label\n", "no examples"),
        ("f1,label\nabc,1\n", "not a number"),
    ],
)
def test_bad_csv_is_one_line(tmp_path, content, message):
    (tmp_path / "d.csv").write_text(content)
    with pytest.raises(StudioError, match=message):
        load_data(str(tmp_path / "d.csv"))


def test_empty_and_broken_data(tmp_path):
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 3)), y=np.zeros(0, int))
    with pytest.raises(StudioError, match="no examples"):
        load_data(str(tmp_path / "empty.npz"))
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(StudioError, match="cannot read"):
        load_data(str(tmp_path / "broken.npz"))
    np.savez(tmp_path / "nan.npz", x=np.full((2, 2), np.nan))
    with pytest.raises(StudioError, match="NaN"):
        load_data(str(tmp_path / "nan.npz"))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(StudioError, match="subfolder"):
        load_data(str(tmp_path / "empty_dir"))
    with pytest.raises(StudioError, match="no such sample"):
        load_data("sample:cifar")


def test_data_that_does_not_fit_the_model_says_so():
    with pytest.raises(StudioError, match="do not fit"):
        load_data("sample:digits").shaped_for(load_model("sample:lenet-5").inputs)
