"""Deployments served by ``kaizen flows serve``: retrain on a schedule and when enough new data has arrived."""

from __future__ import annotations

from prefect import flow, get_run_logger, serve
from prefect.deployments import run_deployment

from flows import tasks
from flows.bootstrap import bootstrap
from flows.evaluate import evaluate_adapter
from flows.retrain import retrain
from kaizen.config import Settings, get_settings
from kaizen.datasets.store import DatasetNotFound
from kaizen.registry import AdapterRegistry
from kaizen.training.triggers import TriggerDecision, new_examples_decision

RETRAIN_ON_DATA = "retrain/retrain-on-data"


@flow(name="watch-new-examples")
def watch_new_examples(tenant: str = "default", trigger: bool = True) -> TriggerDecision | None:
    """Start the retrain deployment when settings.retrain_min_new_examples arrived since the last adapter."""
    settings = get_settings()  # from the environment, inside the run: never a (stored) flow parameter
    logger = get_run_logger()
    try:
        snapshot = tasks.snapshot_dataset(settings, tenant, None)
    except DatasetNotFound as exc:
        logger.info("no dataset yet: %s", exc)
        return None
    decision = new_examples_decision(
        AdapterRegistry.from_settings(settings),
        tenant=tenant,
        dataset_examples=snapshot.size,
        threshold=settings.retrain_min_new_examples,
    )
    logger.info("%d new examples (threshold %d)", decision.new_examples, decision.threshold)
    if decision.retrain and trigger:
        # timeout=0: hand the run to the served deployment and return; the concurrency limit queues it if a
        # retrain is already running.
        run_deployment(RETRAIN_ON_DATA, parameters={"tenant": tenant}, timeout=0)
    return decision


def serve_deployments(settings: Settings, tenants: list[str]) -> None:
    """Blocks, running the deployments' schedules; Ctrl-C stops."""
    interval = settings.retrain_interval_seconds
    deployments = []
    for tenant in tenants:
        suffix = "" if tenant == "default" else f"-{tenant}"
        deployments += [
            retrain.to_deployment(name=f"retrain-interval{suffix}", interval=interval, parameters={"tenant": tenant}),
            watch_new_examples.to_deployment(
                name=f"watch{suffix}", interval=max(10, min(60, interval)), parameters={"tenant": tenant}
            ),
        ]
    deployments += [
        retrain.to_deployment(name="retrain-on-data"),
        evaluate_adapter.to_deployment(name="evaluate"),
        bootstrap.to_deployment(name="bootstrap"),
    ]
    serve(*deployments)
