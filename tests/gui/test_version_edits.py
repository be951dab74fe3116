"""Edit → Undo and Redo of renaming and deleting versions; deleting the versions made from the
selected one too is asked first, saying how many."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox
from test_versions_dock import prune, tree_labels


def edit_menu(window) -> dict:
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    return {a.text().split()[0]: a for a in menu.actions() if not a.isSeparator()}  # "&Undo Rename …" → "&Undo"


def test_a_rename_is_undone_and_redone_and_a_new_model_starts_afresh(studio, run_sheet, load, qtbot, monkeypatch):
    window = studio
    session, panel = window.compression.session, window.compression.versions
    run_sheet(window, "prune", prune(0.5))
    menu = edit_menu(window)
    assert not menu["&Undo"].isEnabled() and not menu["&Redo"].isEnabled()  # a run is not an edit

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("half", True))
    qtbot.mouseClick(panel.rename_button, Qt.MouseButton.LeftButton)
    assert session.history.versions[1].label == "half"
    menu = edit_menu(window)
    assert menu["&Undo"].isEnabled() and menu["&Undo"].text() == "&Undo Rename v1 to “half”" and menu["&Undo"].statusTip()
    assert "· half ·" in window.model_status.text() and "(half)" in window.windowTitle()
    menu["&Undo"].trigger()
    assert session.history.versions[1].label == "v1 pruned 50%" and "· v1 pruned 50% ·" in window.model_status.text()
    qtbot.waitUntil(lambda: tree_labels(panel) == ["v0 original", "  v1 pruned 50%"])
    edit_menu(window)["&Redo"].trigger()
    assert session.history.versions[1].label == "half"

    load(window, "sample:digits-cnn")  # another model: the edits were of versions now gone
    assert not edit_menu(window)["&Undo"].isEnabled() and not edit_menu(window)["&Redo"].isEnabled()


def test_deleting_asks_how_many_go_and_undo_brings_them_back_with_their_metrics(studio, run_sheet, qtbot, monkeypatch):
    window = studio
    session, panel = window.compression.session, window.compression.versions
    run_sheet(window, "prune", prune(0.5))
    run_sheet(window, "prune", prune(0.8))
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        session.select(1)
    before = {vid: (v, dict(v.metrics)) for vid, v in session.history.versions.items()}
    charts = {k: v for k, v in session.charts.items()}
    assert set(charts) == {"v1", "v2"}

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: (asked.append(text), QMessageBox.StandardButton.Cancel)[1])
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert "Delete v1 pruned 50% and the 1 version made from it?" in asked[0]
    assert list(session.history.versions) == [0, 1, 2] and session.current == 1  # Cancel: nothing went

    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert list(session.history.versions) == [0] and session.charts == {}

    undo = edit_menu(window)["&Undo"]
    assert undo.text() == "&Undo Delete “v1 pruned 50%” and 1 version made from it"
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        undo.trigger()
    assert list(session.history.versions) == [0, 1, 2] and session.current == 1
    for vid, (version, metrics) in before.items():
        assert session.history.versions[vid] is version and version.metrics == metrics and "accuracy" in metrics
    assert session.charts == charts
    assert window.info.model is session.history.versions[1].model
    qtbot.waitUntil(lambda: tree_labels(panel) == ["v0 original", "  v1 pruned 50%", "    v2 pruned 80%"])

    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        edit_menu(window)["&Redo"].trigger()
    assert list(session.history.versions) == [0]
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        edit_menu(window)["&Undo"].trigger()
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        session.select(2)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: pytest.fail("asked about deleting a version nothing was made from"))
    with qtbot.waitSignal(window.modelChanged, timeout=60_000):
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert list(session.history.versions) == [0, 1]
    (added,) = run_sheet(window, "prune", prune(0.9))
    assert added.id == 3  # a deleted version's id is never given again: undoing its deletion stays possible
