"""The evaluate flow: score any adapter version (or the bare base model) on the current held-out and regression sets."""

from __future__ import annotations

from prefect import flow

from flows import tasks
from flows.artifacts import publish_artifacts
from kaizen.config import get_settings
from kaizen.registry import AdapterRegistry
from kaizen.training.retrain import SetScores, answer_cache, resolve_config


@flow(name="evaluate")
def evaluate_adapter(
    version: str | None = None,
    tenant: str = "default",
    dataset_version: str | None = None,
) -> SetScores:
    """``version`` None scores the base model; the promoted adapter is the baseline in the artifacts."""
    settings = get_settings()  # from the environment, inside the run: never a (stored) flow parameter
    registry = AdapterRegistry.from_settings(settings)
    if version is not None:
        registry.verify(version)  # a corrupt adapter fails here, not halfway through generation
    snapshot = tasks.snapshot_dataset(settings, tenant, dataset_version)
    model_dir, base_hash = tasks.resolve_base(settings)
    config = resolve_config(settings, snapshot.size)
    splits = tasks.split(snapshot, registry.root, config)
    adapter_dir = registry.adapter_path(version) if version else None
    manifest = registry.get(version) if version else None
    cache = answer_cache(registry, base_hash, adapter_dir, manifest)
    scores = tasks.evaluate(model_dir, adapter_dir, splits, config, cache.path)
    promoted = registry.promoted(tenant)
    if promoted is not None and promoted.version != version:
        promoted_dir = registry.adapter_path(promoted.version)
        promoted_cache = answer_cache(registry, base_hash, promoted_dir, promoted)
        baseline = tasks.evaluate(model_dir, promoted_dir, splits, config, promoted_cache.path)
    else:
        baseline = scores
    publish_artifacts(registry.root, tenant, version, scores, baseline, settings.retrain_gate_metric)
    return scores
