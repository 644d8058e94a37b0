"""Prefect artifacts of a run: the candidate-vs-baseline table and the metric plot across adapter versions."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from kaizen.registry import AdapterRegistry
from kaizen.training.gate import GateDecision
from kaizen.training.report import comparison_rows, history_plot_png, markdown_image, png_data_uri
from kaizen.training.retrain import SetScores


def _key(text: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return "".join(c if c.isalnum() else "-" for c in text.lower())


@task(name="publish-artifacts", cache_policy=NO_CACHE)
def publish_artifacts(
    registry_root: Path,
    tenant: str,
    version: str | None,
    candidate: SetScores,
    baseline: SetScores,
    metric: str,
    decision: GateDecision | None = None,
) -> Path:
    """Table + plot; the PNG is also written next to the registry so it outlives the Prefect database."""
    registry = AdapterRegistry(registry_root)
    rows = comparison_rows(
        candidate.heldout,
        baseline.heldout,
        candidate_regression=candidate.regression,
        baseline_regression=baseline.regression,
    )
    verdict = "" if decision is None else ("passed: " if decision.passed else "refused: ") + "; ".join(decision.reasons)
    create_table_artifact(
        table=rows,
        key=_key(f"metrics-{tenant}"),
        description=f"{version or 'evaluation'}: candidate vs baseline (promoted adapter or base model). {verdict}",
    )
    png = history_plot_png(registry.history(tenant), metric)
    plot_path = registry.root / ".reports" / f"{tenant}-{version or 'latest'}-{metric}.png"
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot_path.write_bytes(png)
    create_image_artifact(
        image_url=png_data_uri(png), key=_key(f"history-{tenant}"), description=f"{metric} across versions"
    )
    create_markdown_artifact(
        markdown=f"## {metric} across adapter versions ({tenant})\n\n{markdown_image(png, metric)}\n\n"
        f"File: `{plot_path}`\n",
        key=_key(f"history-md-{tenant}"),
    )
    return plot_path
