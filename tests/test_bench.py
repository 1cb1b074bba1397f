"""``captioner bench`` on the shipped model: every stage of a photo is measured and reported.

Figures are not asserted against limits (a shared machine makes timed tests flake); what is
asserted is that each stage is measured on real calls and that the report adds up."""

from __future__ import annotations

from desktop.bench import format_report, run_bench


def test_bench_reports_each_stage_of_a_photo(captioner, samples):
    report = run_bench(captioner, images=samples[0].parent, limit=4, repeat=2, beam=2)
    for stage in ("read_ms", "resize_ms", "detector_ms", "encoder_ms", "objects_ms"):
        figures = report[stage]
        assert figures["n"] >= 2 and 0 < figures["p50"] <= figures["p95"], (stage, figures)
    assert set(report["decode_loop_ms"]) == {"greedy", "beam2"}
    assert report["photos_per_s"]["greedy"] > 0
    # A photo end to end costs at least its detector and encoder (the stages are parts of it).
    stage_sum = report["detector_ms"]["p50"] + report["encoder_ms"]["p50"]
    assert report["end_to_end_ms"]["greedy"]["p95"] >= 0.5 * stage_sum
    text = format_report(report)
    for line in ("read ", "resize ", "detector ", "encoder ", "loop greedy", "throughput greedy"):
        assert line in text, text
