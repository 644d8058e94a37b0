"""The bootstrap flow: a dataset version of model-written RAFT examples for a knowledge base with no traffic yet."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import tasks
from kaizen.config import Settings, get_settings
from kaizen.datasets.manifest import DatasetManifest
from kaizen.datasets.store import DatasetStore
from kaizen.events import RaftExample
from kaizen.llm.engine import GenerationEngine
from kaizen.retrieval.types import Chunk
from kaizen.training.bootstrap import BootstrapParams, bootstrap_examples


@task(name="sample-chunks", cache_policy=NO_CACHE)
def sample_chunks(settings: Settings, tenant: str, knowledge_base: str, n: int, seed: int) -> list[Chunk]:
    from kaizen.retrieval.knowledge_base import KnowledgeBase

    kb = KnowledgeBase.from_settings(settings)
    return asyncio.run(kb.random_chunks(tenant=tenant, knowledge_base=knowledge_base, n=n, seed=seed))


@task(name="write-examples", cache_policy=NO_CACHE)
def write_examples(
    settings: Settings, model_dir: Path, chunks: list[Chunk], params: BootstrapParams
) -> list[RaftExample]:
    # The serving runtime's batching engine: the questions for many chunks are written in batches.
    with GenerationEngine.from_settings(settings, model_dir) as engine:
        return asyncio.run(bootstrap_examples(engine, chunks, params))


@task(name="save-dataset-version", cache_policy=NO_CACHE)
def save_version(settings: Settings, tenant: str, examples: list[RaftExample]) -> DatasetManifest:
    return DatasetStore.from_settings(settings).add_version(tenant, raft=examples, source="bootstrap")


@flow(name="bootstrap")
def bootstrap(
    knowledge_base: str,
    tenant: str = "default",
    n_chunks: int = 50,
    seed: int = 0,
    chunks: list[Chunk] | None = None,
) -> DatasetManifest:
    """Sample chunks (or take ``chunks``), have the model write questions, save a dataset version; returns it."""
    settings = get_settings()  # from the environment, inside the run: never a (stored) flow parameter
    model_dir, _ = tasks.resolve_base(settings)
    chosen = chunks if chunks is not None else sample_chunks(settings, tenant, knowledge_base, n_chunks, seed)
    examples = write_examples(settings, model_dir, chosen, BootstrapParams(seed=seed))
    if not examples:
        raise ValueError(f"the model wrote no usable question for {len(chosen)} chunks of {knowledge_base!r}")
    manifest = save_version(settings, tenant, examples)
    get_run_logger().info(
        "bootstrap: %d RAFT examples from %d chunks -> dataset %s", len(examples), len(chosen), manifest.version
    )
    return manifest
