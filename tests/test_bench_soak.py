"""The soak's arithmetic (bench/_soak_summary.py): memory slopes, percentiles, retrain overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench._soak_summary import Sample, max_overlap, percentile, slope_per_10min, summarize_memory


def test_slope_is_mb_per_ten_minutes() -> None:
    assert slope_per_10min([(0, 100.0), (300, 105.0), (600, 110.0)]) == 10.0
    assert slope_per_10min([(0, 1.0), (1, 1.0)]) is None  # too few points to call a trend


def test_percentile_nearest_rank() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([], 95) is None


def test_overlap_counts_runs_open_at_once() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    one_after_another = [(t, t + timedelta(minutes=5)), (t + timedelta(minutes=5), t + timedelta(minutes=9))]
    assert max_overlap(one_after_another) == 1
    assert max_overlap([*one_after_another, (t + timedelta(minutes=1), t + timedelta(minutes=2))]) == 2


def test_summary_skips_warmup_and_flow_runs() -> None:
    samples = [
        Sample(
            t_s=t,
            parts_mb={"serving": 1000.0 + t / 60, "broker": 50.0},
            flow_runs_mb={"flow-run:retrain:x": 3000.0},
            available_mb=9000.0,
        )
        for t in (0, 600, 1200, 1800)
    ]
    summary = summarize_memory(samples, warmup_s=600)
    assert summary.samples_after_warmup == 3
    assert summary.serving_slope_mb_per_10min == 10.0
    assert summary.platform_mb_max == 1080.0  # the retrain's 3 GB is not the platform's
    assert summary.tree_mb_max == 4080.0
