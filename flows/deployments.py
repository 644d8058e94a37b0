"""Deployments served by ``kaizen flows serve``: retrain on a schedule and when enough new data has arrived."""

from __future__ import annotations

from prefect import flow, get_client, get_run_logger, serve
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.deployments.runner import RunnerDeployment

from flows import tasks
from flows.bootstrap import bootstrap
from flows.evaluate import evaluate_adapter
from flows.retrain import retrain
from kaizen.config import Settings, get_settings
from kaizen.registry import AdapterRegistry
from kaizen.training.triggers import TriggerDecision, new_examples_decision, retrain_key, tenant_tag

RETRAIN_ON_DATA = "retrain/retrain-on-data"
# Waiting for the retrain slot is RUNNING (inside the flow); a triggered run not yet picked up, or a retry, is
# SCHEDULED. No schedule runs the retrain flow itself (both only trigger it), so a SCHEDULED run is one that is due.
IN_FLIGHT = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED]


def retrain_in_flight(tenant: str) -> str | None:
    """The name of a retrain run of ``tenant`` that is due or running, if any."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[retrain.name])),
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[tenant_tag(tenant)]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=IN_FLIGHT)),
            ),
            limit=1,
        )
    return runs[0].name if runs else None


@flow(name="watch-new-examples")
def watch_new_examples(
    tenant: str = "default", trigger: bool = True, threshold: int | None = None
) -> TriggerDecision | None:
    """Start the retrain deployment when ``threshold`` (default settings.retrain_min_new_examples) examples arrived
    since the last adapter, unless a retrain of the tenant is already queued or running."""
    settings = get_settings()  # from the environment, inside the run: never a (stored) flow parameter
    logger = get_run_logger()
    preview = tasks.preview_dataset(settings, tenant)  # nothing is written until a retrain starts
    decision = new_examples_decision(
        AdapterRegistry.from_settings(settings),
        tenant=tenant,
        dataset_examples=preview.counts.examples,
        threshold=threshold or settings.retrain_min_new_examples,
        dataset_version=preview.version,
    )
    logger.info("%d new examples (threshold %d)", decision.new_examples, decision.threshold)
    if decision.retrain and (running := retrain_in_flight(tenant)) is not None:
        logger.info("retrain %s is queued or running for %s: not starting another", running, tenant)
        return decision.blocked(running)
    if decision.retrain and trigger:
        # timeout=0: hand the run to the served deployment and return. The key makes a second trigger for the
        # same data (a race between two polls) return the first run instead of creating one.
        run_deployment(
            RETRAIN_ON_DATA,
            parameters={"tenant": tenant},
            tags=[tenant_tag(tenant)],
            idempotency_key=retrain_key(tenant, preview.version),
            timeout=0,
        )
    return decision


def deployments(settings: Settings, tenants: list[str]) -> list[RunnerDeployment]:
    """Per tenant, two schedules that both only *trigger* ``retrain-on-data``, through the same checks: the watch
    polls for ``retrain_min_new_examples`` new examples, and the interval retrains on any new data at all. Neither
    starts a retrain while one is queued or running, or on data a retrain has already seen."""
    interval = settings.retrain_interval_seconds
    found = []
    for tenant in tenants:
        suffix = "" if tenant == "default" else f"-{tenant}"
        found += [
            watch_new_examples.to_deployment(
                name=f"retrain-interval{suffix}", interval=interval, parameters={"tenant": tenant, "threshold": 1}
            ),
            watch_new_examples.to_deployment(
                name=f"watch{suffix}", interval=max(10, min(60, interval)), parameters={"tenant": tenant}
            ),
        ]
    return [
        *found,
        retrain.to_deployment(name="retrain-on-data"),
        evaluate_adapter.to_deployment(name="evaluate"),
        bootstrap.to_deployment(name="bootstrap"),
    ]


def serve_deployments(settings: Settings, tenants: list[str]) -> None:
    """Blocks, running the deployments' schedules; Ctrl-C stops."""
    serve(*deployments(settings, tenants))
