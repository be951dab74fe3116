"""Quantization-aware training from the Quantize sheet: its own fields, plain words, and live curves."""

from studio.gui.compress.quantize_panel import BUYS


def points(window, metric):
    x = window.compression.run_dock.widget().charts.curves[metric].xData
    return 0 if x is None else len(x)  # None until its chart's turn to draw comes


def test_qat_shows_its_own_fields_only(studio):
    sheet = studio.compression.open_sheet("quantize")
    shown = lambda key: sheet.form.layout_.isRowVisible(list(sheet.form.rows).index(key))  # noqa: E731
    sheet.form.set_value("mode", "static")
    assert shown("calibration") and shown("per_channel") and not shown("epochs") and not shown("lr")
    sheet.form.set_value("mode", "qat")
    assert shown("epochs") and shown("lr") and shown("samples") and shown("bits") and shown("calibration")
    assert not any(shown(k) for k in ("per_channel", "keep_float", "max_drop"))
    assert not sheet.kept.isVisibleTo(sheet)
    assert sheet.buys.text().startswith(BUYS["qat"]) and "static int8" in BUYS["qat"] and "Needs data" in BUYS["qat"]
    sheet.form.set_value("epochs", 3)
    assert sheet.form.value("bits") == 8  # QAT's default, though weights-only starts at 4
    assert sheet.steps() == [("quantize", {"mode": "qat", "samples": 256, "epochs": 3, "lr": 1e-4})]
    sheet.form.set_value("calibration", "percentile")  # the ranges it trains on
    assert sheet.steps()[0][1]["calibration"] == "percentile"
    sheet.form.set_value("mode", "dynamic")
    assert "epochs" not in sheet.steps()[0][1]


def test_qat_offers_8_or_4_bits_each_mode_keeping_its_own(studio):
    sheet = studio.compression.open_sheet("quantize")
    sheet.form.set_value("mode", "qat")
    combo = sheet.form.widgets["bits"]
    assert [combo.itemData(i) for i in range(combo.count())] == [4, 8]
    sheet.form.set_value("bits", 4)
    assert sheet.steps() == [("quantize", {"mode": "qat", "samples": 256, "epochs": 2, "lr": 1e-4, "bits": 4})]
    sheet.form.set_value("mode", "weights-only")
    sheet.form.set_value("bits", 8)
    sheet.form.set_value("mode", "qat")
    assert sheet.form.value("bits") == 4
    sheet.form.set_value("mode", "weights-only")
    assert sheet.form.value("bits") == 8


def test_qat_makes_an_int8_version_and_draws_its_training(studio, run_sheet, qtbot):
    window = studio

    def configure(sheet):
        sheet.form.set_value("mode", "qat")
        sheet.form.set_value("epochs", 1)

    (version,) = run_sheet(window, "quantize", configure)
    assert version.result.options["mode"] == "qat" and version.model.onnx is not None
    sheet = window.compression.sheet.sheets["quantize"]
    assert "int8" in {sheet.ops.item(r, 2).text() for r in range(sheet.ops.rowCount())}
    assert version.metrics["size_bytes"] < window.compression.session.history.versions[0].metrics["size_bytes"] / 3
    for metric in ("loss", "accuracy"):  # the charts draw one after another, a few ms apart
        qtbot.waitUntil(lambda: points(window, metric) >= 1)
