"""The Quantize sheet on its own: the suggested mode is chosen, its reason shown, and no mode promises speed."""

from types import SimpleNamespace

from studio.core.compress.saturation import saturates
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx
from studio.gui.compress.quantize_panel import BUYS, SEVEN_BIT, QuantizePanel


def test_the_suggested_mode_is_chosen_with_its_reason(qtbot):
    sheet = QuantizePanel()
    qtbot.addWidget(sheet)
    assert sheet.form.value("mode") == "dynamic"
    sheet.show_model(SimpleNamespace(model=load_model("sample:digits-cnn"), layers=[]))
    assert sheet.form.value("mode") == "static"
    assert sheet.advice.text().startswith("Suggested: int8 weights and activations (static): a convolutional net")
    assert "\n" not in sheet.advice.text() and "ConvInteger" in sheet.advice.text()
    assert sheet.buys.text() == BUYS["static"] + (" " + SEVEN_BIT if saturates() else "")


def test_where_int8_kernels_saturate_the_int8_modes_say_weights_use_7_bits(qtbot, monkeypatch):
    from studio.core.compress import saturation

    monkeypatch.setattr(saturation, "saturates", lambda: True)
    sheet = QuantizePanel()
    qtbot.addWidget(sheet)
    sheet.show_model(SimpleNamespace(model=load_model("sample:digits-cnn"), layers=[]))
    for mode in ("dynamic", "static", "qat", "fp16"):
        sheet.form.set_value("mode", mode)
        assert sheet.buys.text().endswith(SEVEN_BIT) == (mode in ("static", "qat")), mode


def test_a_quantized_model_keeps_the_mode_and_says_why_not(qtbot):
    from studio.core.compress.quantize import quantize
    from studio.core.evaluate.data import load_data
    from studio.core.process.jobs import run_to_end

    q = run_to_end(quantize(to_onnx(load_model("sample:digits-cnn")), load_data("sample:digits"), mode="dynamic"))
    sheet = QuantizePanel()
    qtbot.addWidget(sheet)
    sheet.form.set_value("mode", "fp16")
    sheet.show_model(SimpleNamespace(model=q, layers=[]))
    assert sheet.form.value("mode") == "fp16"
    assert sheet.advice.text().startswith("Not suggested: already quantized")


def test_per_channel_scales_are_offered_only_where_int8_has_scales_to_choose(qtbot):
    sheet = QuantizePanel()
    qtbot.addWidget(sheet)
    shown = lambda key: sheet.form.layout_.isRowVisible(list(sheet.form.rows).index(key))  # noqa: E731
    for mode, offered in (("dynamic", True), ("static", True), ("fp16", False), ("weights-only", False), ("qat", False)):
        sheet.form.set_value("mode", mode)
        assert shown("per_channel") == offered, mode
    assert "With data, layers whose values would overflow fp16 stay float" in BUYS["fp16"]


def test_no_mode_promises_to_be_faster():
    for text in BUYS.values():
        assert "up to" in text or "4–8×" in text
        assert "often faster" not in text and "About" not in text
