"""The Pareto chart across latency instead of size (issue 16): each version's batch-1 latency."""

from studio.gui.versions.pareto_chart import SIZES


def test_the_pareto_chart_can_put_latency_on_its_x_axis(studio, run_sheet):
    window = studio
    (version,) = run_sheet(window, "quantize", lambda sheet: sheet.form.set_value("mode", "dynamic"))
    pareto = window.compression.versions.pareto
    pareto.size.setCurrentIndex(pareto.size.findData("latency_ms"))
    versions = window.compression.session.history.versions
    timed = [v for v in versions.values() if "latency_ms" in v.metrics]
    assert len(timed) == 2 and len(pareto.points.xData) == 2
    assert sorted(pareto.points.xData) == sorted(v.metrics["latency_ms"] for v in timed)
    assert pareto.plot.getAxis("bottom").labelText == "latency at batch 1 (log scale)" and "Latency × accuracy" in pareto.caption.text()
    assert pareto.plot.getAxis("bottom").logTickStrings([0.0], 1, 1) == ["1 ms"]
    pareto.size.setCurrentIndex(pareto.size.findData("zip_bytes"))
    assert pareto.plot.getAxis("bottom").labelText == f"size {SIZES['zip_bytes']} (log scale)"
