"""Text data: .txt, .csv, .tsv and .jsonl read into int64 token arrays by a model folder's tokenizer, padded
to a length chosen from the data; bad encodings, empty lines and missing columns are one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")

from hf_folders import tiny_bert  # noqa: E402

from studio.core.errors import StudioError  # noqa: E402
from studio.core.evaluate.data import load_data  # noqa: E402
from studio.core.evaluate.text_data import is_text, with_tokenizer  # noqa: E402
from studio.core.formats.load import load_model  # noqa: E402

TEXTS = ["the cat sat on the mat", "a dog ran fast", "i liked the movie very and the film was very good", "bad"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return str(tiny_bert(tmp_path_factory.mktemp("hf") / "bert"))


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def test_a_txt_is_one_unlabeled_example_per_line_padded_to_a_multiple_of_8(folder, tmp_path):
    data = load_data(write(tmp_path / "t.txt", "\n".join(TEXTS) + "\n"), tokenizer=folder)
    assert set(data.x) == {"input_ids", "attention_mask", "token_type_ids"} and data.y is None
    assert all(a.dtype == np.int64 and a.shape == (4, 16) for a in data.x.values())  # the longest is 13 tokens with [CLS], [SEP]
    assert data.x["attention_mask"].sum(1).max() == 13 and data.x["input_ids"][3, 3] == 0  # padding
    assert "4 texts (one per line), 16 tokens each (the longest has 13)" in data.description
    assert data.test().description == data.description


def test_csv_tsv_and_jsonl_with_labels_and_pairs(folder, tmp_path):
    csv = load_data(write(tmp_path / "r.csv", 'text,label\n"the cat, sat",pos\nbad,neg\n'), tokenizer=folder)
    assert csv.classes == ["neg", "pos"] and csv.y.tolist() == [1, 0] and "labels in 'label'" in csv.description
    tsv = load_data(write(tmp_path / "r.tsv", "sentence\tlabel\nthe cat\t1\nbad\t0\n"), tokenizer=folder)
    assert tsv.y.tolist() == [1, 0]
    lines = [{"text": t, "label": i % 2} for i, t in enumerate(TEXTS)]
    jsonl = load_data(write(tmp_path / "r.jsonl", "\n".join(json.dumps(line) for line in lines)), tokenizer=folder)
    assert jsonl.y.tolist() == [0, 1, 0, 1] and len(jsonl) == 4
    pairs = load_data(write(tmp_path / "p.csv", "sentence1,sentence2\nthe cat,the dog\nbad,good\n"), tokenizer=folder)
    assert pairs.y is None and pairs.x["token_type_ids"].max() == 1 and "text pairs" in pairs.description
    unlabeled = load_data({"path": str(tmp_path / "r.csv"), "labels": "none"}, tokenizer=folder)
    assert unlabeled.y is None


def test_the_length_can_be_chosen_and_the_tokenizer_named_in_the_spec(folder, tmp_path):
    path = write(tmp_path / "t.txt", "\n".join(TEXTS))
    data = load_data({"path": path, "tokenizer": folder, "max_length": 8})
    assert data.x["input_ids"].shape == (4, 8) and "1 cut to 8" in data.description
    for bad, words in ((100, "not between 2 and 64"), ("long", "whole number")):
        with pytest.raises(StudioError, match=words):
            load_data({"path": path, "tokenizer": folder, "max_length": bad})


def test_a_table_of_numbers_is_still_a_table(tmp_path):
    path = tmp_path / "n.csv"
    write(path, "a,b,label\n1,2,0\n3,4,1\n")
    assert not is_text(path) and load_data(str(path)).x["x"].shape == (2, 2)


@pytest.mark.parametrize("name, content, words", [
    ("latin.txt", "caf\xe9\nthe cat\n".encode("latin-1"), r"not UTF-8 text: byte 0xe9 on line 1"),
    ("gap.txt", "the cat\n\nthe dog\n", r"line 2 is empty"),
    ("blank.txt", "the cat\n   \n", r"line 2 is empty"),
    ("nul.txt", "the\x00cat\n", r"NUL bytes"),
    ("empty.txt", "\n", r"holds no examples"),
    ("cols.tsv", "a\tb\tc\tlabel\nx\ty\tz\t1\n", r"has no text column: name it one of text, sentence"),
    ("words.csv", "a,b,label\nx,y,1\n", r"not a number .*; text needs a column named text or sentence"),
    ("only.csv", "text,label\n", r"holds no examples"),
    ("row.csv", "text,label\nthe cat,1\n,\n", r"row 3 is empty"),
    ("cell.csv", "text,label\nthe cat,1\n ,0\n", r"row 3 is empty \(column 'text'\)"),
    ("short.tsv", "text\tlabel\nthe cat\n", r"row 2 has 1 cells but the header 2"),
    ("missing.jsonl", '{"text": "a", "label": 1}\n{"label": 0}\n', r"line 2 has no 'text'"),
    ("broken.jsonl", '{"text": "a"}\n{"text": \n', r"line 2 is not JSON"),
    ("list.jsonl", '["a"]\n', r"line 1 is not a JSON object"),
    ("gap.jsonl", '{"text": "a"}\n\n{"text": "b"}\n', r"line 2 is empty"),
])
def test_bad_text_files_are_one_line_errors(folder, tmp_path, name, content, words):
    path = write(tmp_path / name, content)
    with pytest.raises(StudioError, match=words) as e:
        load_data(path, tokenizer=folder)
    assert "\n" not in str(e.value) and str(e.value).startswith(path)


def test_text_without_a_tokenizer_says_where_one_comes_from(tmp_path):
    with pytest.raises(StudioError, match="tokenizer of a Hugging Face model folder"):
        load_data(write(tmp_path / "t.txt", "the cat\n"))
    with pytest.raises(StudioError, match="has no tokenizer files"):
        load_data({"path": str(tmp_path / "t.txt"), "tokenizer": str(tmp_path)})


def test_a_window_s_data_spec_names_the_open_model_s_tokenizer(folder, tmp_path):
    from studio.core.project.workspace import Workspace, dataset

    model = load_model(folder)
    path = write(tmp_path / "t.txt", "the cat\nthe dog\n")
    assert with_tokenizer(path, model) == {"path": path, "tokenizer": folder}
    assert with_tokenizer("sample:digits", model) == "sample:digits" and with_tokenizer(path, None) == path
    workspace = Workspace()
    workspace.begin(model, {"path": path, "labels": "none"})
    assert workspace.data == {"path": path, "labels": "none", "tokenizer": folder}
    assert not workspace.set_data({"path": path, "labels": "none"})  # the same data
    assert dataset(workspace.data).x["input_ids"].shape == (2, 8)
