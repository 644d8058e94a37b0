"""The flywheel page's data: the demo report, held-out metrics across adapter versions, and the retrain runs."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import httpx
from pydantic import BaseModel, ValidationError

from kaizen.config import Settings
from kaizen.demo.report import DemoReport
from kaizen.registry import AdapterManifest

log = logging.getLogger(__name__)
RETRAIN_FLOW = "retrain"


def demo_report_path(settings: Settings) -> Path:
    """Where ``kaizen demo`` writes its report by default."""
    return settings.data_dir / "demo" / "demo-report.json"


def demo_report(settings: Settings, tenant: str) -> DemoReport | None:
    """The demo's report when it is this tenant's (the demo runs as one tenant, ``default`` unless told)."""
    path = demo_report_path(settings)
    if not path.exists():
        return None
    try:
        report = DemoReport.model_validate_json(path.read_text())
    except ValidationError:
        log.warning("ignored an unreadable demo report at %s", path)
        return None
    return report if report.options.get("tenant", "default") == tenant else None


def metric_history(history: list[AdapterManifest], metric: str) -> list[tuple[str, float | None, float | None]]:
    """(version, closed-book, open-book) of the gate metric, from each manifest's held-out evaluation."""
    return [
        (
            m.version,
            m.metrics.get(f"closed_book.{metric}", m.metrics.get(metric)),
            m.metrics.get(f"open_book.{metric}"),
        )
        for m in history
    ]


class RetrainRun(BaseModel):
    name: str
    state: str
    started: datetime | None = None
    seconds: float | None = None
    url: str


def dashboard_url(settings: Settings) -> str | None:
    api = settings.prefect_api_url.rstrip("/")
    return api.removesuffix("/api") or None


def retrain_runs(
    settings: Settings, tenant: str, *, limit: int = 50, scan: int = 200, timeout: float = 3.0
) -> list[RetrainRun] | None:
    """The tenant's retrain flow runs, newest first, from the Prefect API; None when no Prefect server is known."""
    dashboard = dashboard_url(settings)
    if dashboard is None:
        return None
    # Prefect cannot filter on a parameter: the newest runs of every tenant are read and this tenant's kept. By
    # expected start, which runs that have not started have too (their start time is empty).
    body = {"flows": {"name": {"any_": [RETRAIN_FLOW]}}, "sort": "EXPECTED_START_TIME_DESC", "limit": scan}
    try:
        reply = httpx.post(f"{settings.prefect_api_url.rstrip('/')}/flow_runs/filter", json=body, timeout=timeout)
        reply.raise_for_status()
        rows = reply.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("Prefect API unreachable for the console: %s", exc)
        return None
    return [
        RetrainRun(
            name=row.get("name", ""),
            state=(row.get("state") or {}).get("name") or row.get("state_name") or "",
            started=row.get("start_time"),
            seconds=row.get("total_run_time"),
            url=f"{dashboard}/runs/flow-run/{row['id']}",
        )
        for row in rows
        if (row.get("parameters") or {}).get("tenant", "default") == tenant
    ][:limit]
