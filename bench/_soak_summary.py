"""The soak's arithmetic (bench/soak.py): samples in, memory slopes, retrain overlap and pass/fail out. Pure."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

# Parts that answer users; the platform is everything `kaizen up` runs except flow runs (short-lived processes the
# flow runner starts, a retrain's transient peak among them).
SERVING_PARTS = ("serving", "curator", "indexer", "gateway")
RETRAIN_FLOW = "retrain"


class Sample(BaseModel):
    t_s: float  # since the traffic started
    parts_mb: dict[str, float]  # part -> summed RSS of its processes
    flow_runs_mb: dict[str, float] = {}  # flow-run:<flow>:<id> -> RSS
    available_mb: float
    load_1m: float = 0.0
    retrain_states: dict[str, int] = {}
    sent: int = 0
    answered: int = 0
    failed: int = 0

    @property
    def serving_mb(self) -> float:
        return sum(self.parts_mb.get(p, 0.0) for p in SERVING_PARTS)

    @property
    def platform_mb(self) -> float:
        return sum(self.parts_mb.values())

    @property
    def tree_mb(self) -> float:
        return self.platform_mb + sum(self.flow_runs_mb.values())


def slope_per_10min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) in MB per 10 minutes; None with fewer than 3 points or no time spread."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (y - mean_y) for t, y in points)
    return round(cov / var * 600, 1)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return round(ordered[rank - 1], 2)


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """Most intervals open at one instant (an interval that ends as another starts does not overlap it)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    best = current = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


class MemorySummary(BaseModel):
    warmup_s: float
    samples_after_warmup: int
    serving_slope_mb_per_10min: float | None
    platform_slope_mb_per_10min: float | None
    serving_mb_first: float | None
    serving_mb_last: float | None
    platform_mb_first: float | None
    platform_mb_last: float | None
    platform_mb_max: float
    tree_mb_max: float
    available_mb_min: float
    part_mb_last: dict[str, float]
    part_slope_mb_per_10min: dict[str, float | None]


def summarize_memory(samples: list[Sample], warmup_s: float) -> MemorySummary:
    after = [s for s in samples if s.t_s >= warmup_s]
    parts = sorted({p for s in samples for p in s.parts_mb})
    return MemorySummary(
        warmup_s=warmup_s,
        samples_after_warmup=len(after),
        serving_slope_mb_per_10min=slope_per_10min([(s.t_s, s.serving_mb) for s in after]),
        platform_slope_mb_per_10min=slope_per_10min([(s.t_s, s.platform_mb) for s in after]),
        serving_mb_first=round(after[0].serving_mb, 1) if after else None,
        serving_mb_last=round(after[-1].serving_mb, 1) if after else None,
        platform_mb_first=round(after[0].platform_mb, 1) if after else None,
        platform_mb_last=round(after[-1].platform_mb, 1) if after else None,
        platform_mb_max=round(max((s.platform_mb for s in samples), default=0.0), 1),
        tree_mb_max=round(max((s.tree_mb for s in samples), default=0.0), 1),
        available_mb_min=round(min((s.available_mb for s in samples), default=0.0), 1),
        part_mb_last=samples[-1].parts_mb if samples else {},
        part_slope_mb_per_10min={
            p: slope_per_10min([(s.t_s, s.parts_mb[p]) for s in after if p in s.parts_mb]) for p in parts
        },
    )


def sampled_retrain_peaks(samples: list[Sample]) -> dict[str, float]:
    """Highest RSS sampled per retrain flow run (run id -> MB)."""
    peaks: dict[str, float] = {}
    for s in samples:
        for key, mb in s.flow_runs_mb.items():
            _, flow, run_id = key.split(":", 2)
            if flow == RETRAIN_FLOW:
                peaks[run_id] = max(peaks.get(run_id, 0.0), mb)
    return peaks


def max_sampled_running(samples: list[Sample]) -> int:
    return max((s.retrain_states.get("RUNNING", 0) for s in samples), default=0)


def max_sampled_processes(samples: list[Sample]) -> int:
    """Most retrain flow-run processes alive in one sample."""
    return max((sum(1 for k in s.flow_runs_mb if k.split(":")[1] == RETRAIN_FLOW) for s in samples), default=0)
