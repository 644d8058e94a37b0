"""What a retraining run shows people: a candidate-vs-baseline table and a plot of a metric across versions."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers and flow workers
import matplotlib.pyplot as plt

from kaizen.registry import AdapterManifest


def comparison_rows(
    candidate: dict[str, float],
    baseline: dict[str, float],
    *,
    candidate_regression: dict[str, float],
    baseline_regression: dict[str, float],
) -> list[dict[str, str | float | None]]:
    rows: list[dict[str, str | float | None]] = []
    for split, cand, base in (
        ("held-out", candidate, baseline),
        ("regression", candidate_regression, baseline_regression),
    ):
        for name in sorted(set(cand) | set(base)):
            c, b = cand.get(name), base.get(name)
            delta = round(c - b, 4) if c is not None and b is not None else None
            rows.append(
                {
                    "set": split,
                    "metric": name,
                    "candidate": None if c is None else round(c, 4),
                    "baseline": None if b is None else round(b, 4),
                    "delta": delta,
                }
            )
    return rows


def history_plot_png(history: Sequence[AdapterManifest], metric: str) -> bytes:
    """PNG of ``metric`` (held-out and regression) over adapter versions; rejected versions drawn hollow."""
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    try:
        xs = list(range(len(history)))
        held = [m.metrics.get(metric, float("nan")) for m in history]
        reg = [m.regression_metrics.get(metric, float("nan")) for m in history]
        ax.plot(xs, held, marker="o", label=f"held-out {metric}")
        ax.plot(xs, reg, marker="s", linestyle="--", label=f"regression {metric}")
        for x, m, y in zip(xs, history, held, strict=True):
            if m.status == "rejected":
                ax.scatter([x], [y], s=120, facecolors="none", edgecolors="red")
        ax.set_xticks(xs, [m.version for m in history], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(metric)
        ax.set_ylim(bottom=0)
        ax.set_title("Adapter versions (red ring = rejected by the gate)")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}]({png_data_uri(png)})"
