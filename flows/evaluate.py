"""The evaluate flow: score any adapter version (or the bare base model) on the current held-out and regression sets."""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.artifacts import publish_artifacts
from kaizen.config import Settings, get_settings
from kaizen.registry import AdapterRegistry
from kaizen.training.retrain import SetScores, resolve_config


@flow(name="evaluate")
def evaluate_adapter(
    version: str | None = None,
    tenant: str = "default",
    dataset_dir: str | None = None,
    settings: Settings | None = None,
) -> SetScores:
    """``version`` None scores the base model; the promoted adapter is the baseline in the artifacts."""
    settings = settings or get_settings()
    registry = AdapterRegistry.from_settings(settings)
    if version is not None:
        registry.verify(version)  # a corrupt adapter fails here, not halfway through generation
    snapshot = tasks.snapshot_dataset(settings, tenant, dataset_dir)
    model_dir, _ = tasks.resolve_base(settings)
    config = resolve_config(settings, snapshot.size)
    splits = tasks.split(snapshot, registry.root, config)
    adapter_dir = registry.adapter_path(version) if version else None
    scores = tasks.evaluate(model_dir, adapter_dir, splits, config)
    promoted = registry.promoted(tenant)
    if promoted is not None and promoted.version != version:
        baseline = tasks.evaluate(model_dir, registry.adapter_path(promoted.version), splits, config)
    else:
        baseline = scores
    publish_artifacts(registry.root, tenant, version, scores, baseline, settings.retrain_gate_metric)
    return scores
