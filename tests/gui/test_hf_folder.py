"""A Hugging Face model folder in the window: File → Open Folder opens it, text data is read by its
tokenizer, and a compression run makes a version of it."""

import pytest
from conftest import LOAD_TIMEOUT_MS, RUN_TIMEOUT_MS
from PySide6.QtWidgets import QFileDialog

pytest.importorskip("transformers")


def test_a_folder_opens_measures_on_text_and_is_pruned(make_window, qtbot, tmp_path, monkeypatch):
    from hf_folders import sentences, tiny_bert

    folder = tiny_bert(tmp_path / "bert")
    texts, labels = sentences(40)
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels)))
    window = make_window()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(folder))
    with qtbot.waitSignal(window.modelChanged, timeout=LOAD_TIMEOUT_MS) as opened:
        window.open_folder_action.trigger()
    assert opened.args[0].model.format.value == "hf-folder" and window.windowTitle().startswith("bert")
    session = window.compression.session
    session.set_data(str(data))
    qtbot.waitUntil(lambda: not session.running and "accuracy" in session.version.metrics, timeout=LOAD_TIMEOUT_MS)
    assert session.data == {"path": str(data), "tokenizer": str(folder)}  # the spec alone loads it again
    session.run([("prune", {"method": "magnitude", "sparsity": 0.5})])
    qtbot.waitUntil(lambda: not session.running and len(session.history.versions) == 2, timeout=RUN_TIMEOUT_MS)
    assert session.version.metrics["weight_sparsity"] >= 0.49 and "agreement" in session.version.metrics


def test_a_transformer_teaches_a_copy_of_itself_with_fewer_layers(make_window, load, run_sheet, qtbot, tmp_path):
    from hf_folders import sentences, tiny_bert

    folder = tiny_bert(tmp_path / "bert", head="sentence", layers=4)
    (tmp_path / "lines.txt").write_text("\n".join(sentences(40)[0]) + "\n")
    window = make_window()
    load(window, str(folder))
    session = window.compression.session
    session.set_data(str(tmp_path / "lines.txt"))
    qtbot.waitUntil(lambda: not session.running and session.data is not None, timeout=LOAD_TIMEOUT_MS)
    sheet = window.compression.open_sheet("distill")
    assert sheet.fewer.isVisibleTo(sheet) and [sheet.layers.itemData(i) for i in range(sheet.layers.count())] == [1, 2]

    def fewer(sheet):
        sheet.fewer.setChecked(True)
        sheet.form.set_value("epochs", 1)

    added = run_sheet(window, "distill", fewer)
    student = added[-1].model.module.model
    assert len(student.encoder.layer) == 2 and student.config.num_hidden_layers == 2  # the teacher's layers 0 and 2

    load(window, "sample:lenet-5")
    assert not sheet.fewer.isVisibleTo(sheet)  # only for a transformer


def test_a_transformer_is_fine_tuned_at_its_own_learning_rate(make_window, load, tmp_path):
    from hf_folders import tiny_bert

    from studio.gui.compress.prune_panel import TRANSFORMER_LR

    window = make_window()
    sheet = window.compression.open_sheet("prune")
    load(window, "sample:lenet-5")
    assert sheet.finetune.value("lr") == 1e-3
    load(window, str(tiny_bert(tmp_path / "bert")))
    assert sheet.finetune.value("lr") == TRANSFORMER_LR
    sheet.finetune.set_value("epochs", 2)
    assert ("finetune", {"epochs": 2, "lr": TRANSFORMER_LR}) in sheet.steps()
    load(window, "sample:lenet-5")
    assert sheet.finetune.value("lr") == 1e-3
    import onnx

    from studio.core.formats.load import load_model
    from studio.core.formats.to_onnx import to_onnx

    exported = tmp_path / "bert.onnx"  # a transformer as an ONNX file: it reads token ids
    onnx.save(to_onnx(load_model(str(tmp_path / "bert"))).onnx, exported)
    load(window, str(exported))
    assert sheet.finetune.value("lr") == TRANSFORMER_LR
    sheet.finetune.set_value("lr", 5e-5)  # typed: kept from one model to the next
    load(window, "sample:lenet-5")
    assert sheet.finetune.value("lr") == 5e-5
