"""The retrain flow: snapshot -> train -> evaluate -> gate -> register -> publish the adapter event."""

from __future__ import annotations

import shutil
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.concurrency.sync import concurrency
from pydantic import BaseModel

from flows import tasks
from flows.artifacts import publish_artifacts
from kaizen.config import Settings, get_settings
from kaizen.events import AdapterEvent
from kaizen.registry import AdapterRegistry, AdapterStatus
from kaizen.training.gate import GateDecision
from kaizen.training.memory import MemoryGuard
from kaizen.training.retrain import adapter_event, answer_cache, resolve_config

RETRAIN_LIMIT = "kaizen-retrain"


class RetrainOutcome(BaseModel):
    version: str
    status: AdapterStatus
    decision: GateDecision
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    event: AdapterEvent | None = None
    memory_peaks_mb: dict[str, float] = {}


def ensure_retrain_limit() -> None:
    """A global concurrency limit of one: two retrains never run at once (a missing limit would not block)."""
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(RETRAIN_LIMIT, 1)


@flow(name="retrain")
def retrain(
    tenant: str = "default",
    dataset_version: str | None = None,
    method: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> RetrainOutcome:
    settings = get_settings()  # from the environment, inside the run: never a (stored) flow parameter
    registry = AdapterRegistry.from_settings(settings)
    ensure_retrain_limit()
    with concurrency(RETRAIN_LIMIT, occupy=1), MemoryGuard(settings.retrain_memory_mb) as guard:
        try:
            outcome = _retrain(settings, registry, tenant, dataset_version, method, overrides, guard)
            return outcome.model_copy(update={"memory_peaks_mb": dict(guard.peaks)})
        finally:
            get_run_logger().info("peak resident memory by stage (MB): %s", guard.peaks)


def _retrain(
    settings: Settings,
    registry: AdapterRegistry,
    tenant: str,
    dataset_version: str | None,
    method: str | None,
    overrides: dict[str, Any] | None,
    guard: MemoryGuard,
) -> RetrainOutcome:
    logger = get_run_logger()
    snapshot = tasks.snapshot_dataset(settings, tenant, dataset_version)
    model_dir, base_hash = tasks.resolve_base(settings)
    # Config depends on the dataset size; the split fractions in it do not, so a first config decides the split.
    provisional = resolve_config(settings, snapshot.size, method=method, overrides=overrides)
    splits = tasks.split(snapshot, registry.root, provisional)
    config = resolve_config(settings, len(splits.train), method=method, overrides=overrides)

    work = settings.data_dir / "training" / f"{tenant}-{snapshot.version}"
    try:
        with guard.stage("train"):
            candidate = tasks.train(model_dir, splits, config, work / "adapter", base_hash)
        promoted = registry.promoted(tenant)
        baseline_dir = registry.adapter_path(promoted.version) if promoted else None
        # The baseline's answers to prompts it has seen before are reused (its weights did not change); the
        # candidate's are kept too, for the cycles in which it is the baseline.
        cand_cache = answer_cache(registry, base_hash, candidate.adapter_dir)
        base_cache = answer_cache(registry, base_hash, baseline_dir, promoted)
        with guard.stage("evaluate-candidate"):
            cand_scores = tasks.evaluate(model_dir, candidate.adapter_dir, splits, config, cand_cache.path)
        with guard.stage("evaluate-baseline"):
            base_scores = tasks.evaluate(model_dir, baseline_dir, splits, config, base_cache.path)
        decision = tasks.gate(settings, cand_scores, base_scores)
        manifest = tasks.register(
            registry.root,
            candidate,
            cand_scores,
            decision,
            snapshot,
            model_dir,
            base_hash,
            settings.retrain_rollout,
        )
        if manifest.status == AdapterStatus.rejected:
            cand_cache.path.unlink(missing_ok=True)  # never a baseline: its answers would only take space
    finally:
        shutil.rmtree(work, ignore_errors=True)

    event = adapter_event(registry, manifest, canary_share=settings.canary_share)
    if event is not None:
        tasks.publish(settings, event)
    else:
        logger.info("adapter %s is %s: nothing published", manifest.version, manifest.status)
    publish_artifacts(
        registry.root, tenant, manifest.version, cand_scores, base_scores, settings.retrain_gate_metric, decision
    )
    return RetrainOutcome(
        version=manifest.version,
        status=manifest.status,
        decision=decision,
        metrics=cand_scores.heldout,
        baseline_metrics=base_scores.heldout,
        event=event,
    )
