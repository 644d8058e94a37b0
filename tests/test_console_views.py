"""What the console's pages are drawn from: the SVG chart, the retrain runs read from a real Prefect server, and the
serving replicas `kaizen up` names."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from kaizen.config import Settings
from kaizen.console import adapters_view, flywheel_view
from kaizen.console.chart import Series, line_chart
from kaizen.platform.parts import default_parts
from kaizen.streaming.broker import free_port


def test_line_chart_draws_each_series_leaves_gaps_and_escapes_labels() -> None:
    svg = line_chart(
        ["base", "<cycle 1>", "cycle 2"],
        [Series(name="closed", values=[0.2, None, 0.5]), Series(name="open & rag", values=[0.6, 0.7, 0.8])],
        title="Held-out <accuracy>",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;cycle 1&gt;" in svg and "open &amp; rag" in svg and "Held-out &lt;accuracy&gt;" in svg
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 5  # the None is a gap, not a zero
    assert "closed: 50%" in svg and "open &amp; rag: 80%" in svg
    heights = [float(y) for y in re.findall(r'cy="([\d.]+)"', svg)]
    assert heights[0] > heights[1]  # 20% is drawn lower than 50%


def test_dashboard_url_and_an_unreachable_prefect() -> None:
    assert flywheel_view.dashboard_url(Settings(prefect_api_url="http://h:4200/api")) == "http://h:4200"
    assert flywheel_view.dashboard_url(Settings(prefect_api_url="")) is None
    assert flywheel_view.retrain_runs(Settings(prefect_api_url=""), "alpha") is None
    gone = Settings(prefect_api_url=f"http://127.0.0.1:{free_port()}/api")
    assert flywheel_view.retrain_runs(gone, "alpha", timeout=1.0) is None


@pytest.mark.slow
def test_retrain_runs_of_the_tenant_link_into_the_prefect_dashboard(prefect_harness: None) -> None:
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    from flows.retrain import retrain

    api = PREFECT_API_URL.value()
    tenant, other = (f"t{uuid.uuid4().hex[:8]}" for _ in range(2))  # the Prefect server is the session's
    with get_client(sync_client=True) as client:
        mine = [client.create_flow_run(retrain, parameters={"tenant": tenant}) for _ in range(2)]
        theirs = client.create_flow_run(retrain, parameters={"tenant": other})
    runs = flywheel_view.retrain_runs(Settings(prefect_api_url=api), tenant)
    assert runs is not None
    dashboard = api.rstrip("/").removesuffix("/api")
    assert {r.url for r in runs} == {f"{dashboard}/runs/flow-run/{run.id}" for run in mine}
    assert {r.name for r in runs} == {run.name for run in mine} and theirs.name not in {r.name for r in runs}
    assert all(r.state for r in runs)


def test_kaizen_up_tells_the_gateway_where_the_serving_replica_answers(tmp_path: Path) -> None:
    parts = {p.name: p for p in default_parts(Settings(data_dir=tmp_path), prefect_port=None)}
    serving = parts["serving"].health_url.removesuffix("/healthz")
    assert json.loads(parts["gateway"].env["KAIZEN_SERVING_URLS"]) == [serving]


async def test_a_serving_url_naming_one_address_is_asked_as_it_is() -> None:
    # A compose service name resolves to every replica's address; these resolve to one each.
    for url in ("http://127.0.0.1:6066", "http://localhost:6066", "http://[::1]:6066"):
        assert await adapters_view._expand(url) == [url]
