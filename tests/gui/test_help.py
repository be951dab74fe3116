"""Help in the window: Getting Started (from the menu, its buttons doing what they say, shown unasked at
the first start only), the glossary behind every "?", the sheets' tooltips, errors' Details, About."""

from conftest import LOAD_TIMEOUT_MS
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWhatsThis

from studio.gui.common import dialogs
from studio.gui.common.glossary import FIELD_TIPS, GLOSSARY
from studio.gui.common.help_button import HelpButton
from studio.gui.help.getting_started import GettingStarted

REAL_EXEC = QMessageBox.exec  # taken before conftest's fixtures answer every dialog


def click(qtbot, button) -> None:
    assert button.isEnabled() and button.isVisible(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def named(guide, n: int, text: str):
    (found,) = [b for b in guide.step_buttons(n) if b.text() == text]
    return found


def test_the_help_menu_offers_the_guide_the_glossary_and_about(make_window):
    window = make_window()
    texts = [a.text() for a in window.help_menu.actions() if not a.isSeparator()]
    assert texts == ["&Getting Started", "G&lossary", "&About Compression Studio"]
    assert all(a.statusTip() for a in window.help_menu.actions() if not a.isSeparator())


def test_a_window_made_by_a_program_shows_no_guide(make_window, qtbot):
    """Only the studio's start (studio.gui.app) offers it: tests and scripts get the bare window."""
    window = make_window()
    qtbot.wait(50)
    assert window.guide is None and not [w for w in QApplication.topLevelWidgets() if isinstance(w, GettingStarted)]


def test_the_guide_shows_at_the_first_start_only(make_window):
    first = make_window()
    first.offer_guide()
    assert first.guide is not None and first.guide.isVisible() and not first.guide.isModal()
    second = make_window()  # the next start: remembered in the settings
    second.offer_guide()
    assert second.guide is None
    assert second.show_guide().isVisible()  # the menu shows it always


def test_no_guide_at_a_start_with_a_model(make_window, load):
    window = make_window()
    load(window, "sample:digits-cnn")
    window.offer_guide()
    assert window.guide is None


def test_the_guide_opens_from_the_menu_and_its_buttons_do_what_they_say(make_window, load, qtbot, monkeypatch):
    window = make_window()
    window.guide_action.trigger()
    guide = window.guide
    qtbot.waitExposed(guide)
    assert len(guide.steps) == 5 and not guide.isModal()

    # 1. open a file, a sample in one click, or another sample
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (asked.append(args[1]), ("", ""))[1])
    click(qtbot, named(guide, 1, "Open…"))
    assert asked == ["Open a model"]
    opened = []
    monkeypatch.setattr(window, "open_model", lambda source, trust=False: opened.append(source))
    click(qtbot, named(guide, 1, "Try LeNet-5"))
    assert opened == ["sample:lenet-5"]
    assert named(guide, 1, "Other samples").menu() is window.samples_menu
    monkeypatch.undo()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: ("", ""))

    # 2. the toolbar's Data list drops down
    data = window.compression.picker.data
    click(qtbot, named(guide, 2, "Choose data…"))
    qtbot.waitUntil(lambda: data.view().isVisible())
    data.hidePopup()

    # 3. without a model, Prune & co. say why they wait; with one, they open their sheets
    prune = named(guide, 3, "Prune")
    assert not prune.isEnabled() and "Open a model first" in prune.toolTip()
    load(window, "sample:digits-cnn")
    qtbot.waitUntil(prune.isEnabled)
    for name, text in (("quantize", "Quantize"), ("distill", "Distill"), ("prune", "Prune")):
        click(qtbot, named(guide, 3, text))
        assert window.compression.sheet.currentWidget() is window.compression.sheet.sheets[name]
        assert window.compression.compress_dock.isVisible()

    # 4. the Versions panel comes back (closed here) and to the front
    window.compression.versions_dock.close()
    qtbot.waitUntil(lambda: not window.compression.versions.isVisible())
    click(qtbot, named(guide, 4, "Show the versions"))
    qtbot.waitUntil(window.compression.versions.isVisible)

    # 5. Export opens the export dialog of the current version
    session = window.compression.session
    qtbot.waitUntil(lambda: bool(session.version.metrics) and not session.running, timeout=LOAD_TIMEOUT_MS)
    click(qtbot, named(guide, 5, "Export…"))
    dialog = window.compression.export_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.close()

    # and the glossary, from its foot
    (words,) = [b for b in guide.buttons.buttons() if b.text() == "Glossary…"]
    click(qtbot, words)
    assert window.glossary.isVisible()


def test_every_question_mark_has_a_glossary_entry(studio, qtbot):
    window = studio
    shown = set()
    for name in ("prune", "quantize", "distill"):
        sheet = window.compression.open_sheet(name)
        buttons = sheet.findChildren(HelpButton)
        assert buttons, name
        assert set(sheet.terms) <= {term for b in buttons for term in b.terms}, name  # beside the sheet's title
        for button in buttons:
            assert button.terms and all(term in GLOSSARY for term in button.terms)
            assert button.toolTip() and button.text() == "?"
            if button.isVisibleTo(sheet):
                shown.update(button.terms)
    assert {"pruning", "sparsity", "magnitude pruning", "channel pruning", "fine-tuning", "quantization", "int8",
            "calibration", "distillation", "temperature", "teacher and student"} <= shown

    button = window.compression.open_sheet("prune").findChildren(HelpButton)[0]
    click(qtbot, button)
    popups = lambda: [w for w in QApplication.topLevelWidgets() if w.metaObject().className() == "QWhatsThat" and w.isVisible()]  # noqa: E731
    qtbot.waitUntil(lambda: bool(popups()))
    QWhatsThis.hideText()


def test_the_glossary_has_the_window_s_words_and_finds_them(make_window):
    for term in ("sparsity", "magnitude pruning", "channel pruning", "fine-tuning", "int8", "static vs dynamic quantization",
                 "calibration", "QAT", "fp16", "distillation", "teacher and student", "temperature", "agreement", "cosine",
                 "accuracy drop", "latency", "ONNX", "Pareto chart", "version"):
        assert len(GLOSSARY[term]) > 60, term
    window = make_window()
    glossary = window.show_glossary("calibration")
    assert glossary.isVisible() and not glossary.isModal()
    assert glossary.terms() == sorted(GLOSSARY, key=str.lower)
    glossary.find.setText("teacher")
    assert "teacher and student" in glossary.terms() and "int8" not in glossary.terms()
    glossary.find.setText("no such word at all")
    assert glossary.terms() == [] and "No word here" in glossary.text.toPlainText()


def test_the_sheets_tooltips_say_what_a_setting_does_and_a_good_value(studio):
    from studio.core.project.steps import OPS

    for op, tips in FIELD_TIPS.items():
        assert set(tips) <= set(OPS[op].fields), op  # no tip for a setting that is not there
    prune = studio.compression.open_sheet("prune")
    tip = prune.form.widgets["sparsity"].toolTip()
    assert "Start at 80 %" in tip and "(0 to 99.9 %)" in tip
    assert "1–3 is usually" in prune.finetune.widgets["epochs"].toolTip()
    distill = studio.compression.open_sheet("distill")
    assert "2–5 suits most models" in distill.form.widgets["temperature"].toolTip()


def answer_the_box(seen: list) -> None:
    """Read the message box that shows next, and close it as a user would (Qt's own box, not a test's)."""

    def read() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, read)
            return
        seen.append((box.windowTitle(), box.text(), box.detailedText()))
        box.button(QMessageBox.StandardButton.Ok).click()

    QTimer.singleShot(20, read)


def test_an_error_has_its_technical_detail_behind_details(make_window, monkeypatch):
    from studio.core.errors import StudioError

    window = make_window()
    monkeypatch.setattr(QMessageBox, "exec", REAL_EXEC)
    seen = []
    answer_the_box(seen)
    try:
        try:
            {}["weights"]
        except KeyError:
            raise StudioError("the file holds no weights", "/models/net.pt") from None
    except StudioError as e:
        dialogs.show_error(window, "Could not open the model", str(e))
    ((title, text, details),) = seen
    assert (title, text) == ("Could not open the model", "/models/net.pt: the file holds no weights")
    assert details.startswith("studio.core.errors.StudioError: /models/net.pt: the file holds no weights")
    assert "raised in" in details and "test_help.py" in details and "Caused by KeyError: 'weights'" in details
    assert "Traceback" not in details

    seen.clear()
    answer_the_box(seen)
    dialogs.show_error(window, "Choose an empty folder", "/tmp/x: holds other files")  # nothing technical: no Details
    assert seen == [("Choose an empty folder", "/tmp/x: holds other files", "")]


def test_a_file_that_does_not_open_keeps_its_reason_in_one_line_and_the_library_s_words_in_details(make_window, qtbot, tmp_path, monkeypatch):
    window = make_window()
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07this is not a model" * 50)
    monkeypatch.setattr(QMessageBox, "exec", REAL_EXEC)
    seen = []
    answer_the_box(seen)
    window.open_model(str(bad))
    qtbot.waitUntil(lambda: bool(seen), timeout=LOAD_TIMEOUT_MS)
    ((title, text, details),) = seen
    assert text.startswith(f"{bad}: ") and "\n" not in text
    assert details and "StudioError" in details and "Caused by" in details and "Traceback" not in details


def test_about_names_the_version_of_the_studio_and_its_libraries(make_window, monkeypatch):
    from importlib.metadata import version

    window = make_window()
    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: shown.append((title, text)))
    window.about_action.trigger()
    ((title, text),) = shown
    assert title == "About Compression Studio"
    assert f"Compression Studio {version('compression-studio')}" in text
    for name, dist in (("PyTorch", "torch"), ("ONNX", "onnx"), ("ONNX Runtime", "onnxruntime")):
        assert f"{name}</td><td>&nbsp;&nbsp;{version(dist)}" in text
    assert "PySide6" in text
