"""Prefect tasks: thin wrappers over kaizen.training so the flows only wire steps together."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kaizen.config import Settings
from kaizen.datasets.examples import DatasetSnapshot
from kaizen.datasets.manifest import DatasetManifest
from kaizen.datasets.store import DatasetStore
from kaizen.events import AdapterEvent
from kaizen.llm.fingerprint import fingerprint
from kaizen.llm.prepare import resolve_base_model
from kaizen.registry import AdapterManifest, AdapterRegistry
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics
from kaizen.training import retrain as steps
from kaizen.training.answer_cache import AnswerCache
from kaizen.training.config import TrainingConfig
from kaizen.training.gate import GateDecision, decide
from kaizen.training.splits import Splits

# Inputs are datasets and paths, results are written to the registry: caching by input hash would only cost time.
_TASK = {"cache_policy": NO_CACHE}


@task(name="snapshot-dataset", **_TASK)
def snapshot_dataset(settings: Settings, tenant: str, dataset_version: str | None) -> DatasetSnapshot:
    store = DatasetStore.from_settings(settings)
    # Without a version: a new one from everything the curator staged (or the existing one when nothing changed).
    version = dataset_version or store.snapshot(tenant).version
    snapshot = store.load(version, tenant=tenant)
    get_run_logger().info("dataset %s: %d examples from %s", snapshot.version, snapshot.size, snapshot.path)
    return snapshot


@task(name="preview-dataset", **_TASK)
def preview_dataset(settings: Settings, tenant: str) -> DatasetManifest:
    """What a snapshot would hold now, without writing it: the watcher polls this every minute."""
    store = DatasetStore.from_settings(settings)
    preview = store.preview(tenant)
    get_run_logger().info("dataset preview for %s: %d examples in %s", tenant, preview.counts.examples, store.root)
    return preview


@task(name="resolve-base-model", **_TASK)
def resolve_base(settings: Settings) -> tuple[Path, str]:
    model_dir = resolve_base_model(settings)
    return model_dir, fingerprint(model_dir)


@task(name="split", **_TASK)
def split(snapshot: DatasetSnapshot, registry_root: Path, config: TrainingConfig) -> Splits:
    splits = steps.prepare_splits(snapshot, AdapterRegistry(registry_root), config)
    get_run_logger().info("splits: %s", splits.sizes())
    return splits


@task(name="train", retries=2, retry_delay_seconds=5, **_TASK)
def train(model_dir: Path, splits: Splits, config: TrainingConfig, out_dir: Path, base_hash: str) -> steps.Candidate:
    logger = get_run_logger()

    def progress(step: int, total: int, loss: float) -> None:
        if step == total or step % 10 == 0:
            logger.info("step %d/%d loss %.4f", step, total, loss)

    return steps.train_candidate(model_dir, splits.train, config, out_dir, base_hash=base_hash, progress=progress)


@task(name="evaluate", **_TASK)
def evaluate(
    model_dir: Path, adapter_dir: Path | None, splits: Splits, config: TrainingConfig, cache_path: Path | None = None
) -> steps.SetScores:
    cache = AnswerCache(cache_path) if cache_path is not None else None
    known = len(cache) if cache is not None else 0
    scores = steps.score_sets(model_dir, adapter_dir, splits, config, cache=cache)
    if cache is not None:
        get_run_logger().info("answers generated: %d (cached before: %d)", len(cache) - known, known)
    return scores


@task(name="gate", **_TASK)
def gate(settings: Settings, candidate: steps.SetScores, baseline: steps.SetScores) -> GateDecision:
    decision = decide(
        steps.gate_policy(settings),
        candidate_heldout=candidate.heldout,
        baseline_heldout=baseline.heldout,
        candidate_regression=candidate.regression,
        baseline_regression=baseline.regression,
    )
    get_run_logger().info("gate %s: %s", "passed" if decision.passed else "refused", "; ".join(decision.reasons))
    return decision


@task(name="register", **_TASK)
def register(
    registry_root: Path,
    candidate: steps.Candidate,
    scores: steps.SetScores,
    decision: GateDecision,
    snapshot: DatasetSnapshot,
    model_dir: Path,
    base_hash: str,
    rollout: str,
) -> AdapterManifest:
    return steps.register_candidate(
        AdapterRegistry(registry_root),
        candidate,
        scores,
        decision,
        snapshot=snapshot,
        base_model=model_dir.name,
        base_hash=base_hash,
        rollout=rollout,
    )


@task(name="publish-adapter-event", retries=3, retry_delay_seconds=2, **_TASK)
def publish(settings: Settings, event: AdapterEvent) -> AdapterEvent:
    with EventProducer(settings) as producer:
        producer.send(Topics.from_settings(settings).adapters, event)
    get_run_logger().info("published %s %s", event.action, event.version)
    return event
