"""Building the configured store, chunker and retriever from ``Settings``."""

from __future__ import annotations

from pathlib import Path

from kaizen.config import Settings
from kaizen.retrieval.chunking import Chunker, ChunkingOptions
from kaizen.retrieval.embedder import Embedder
from kaizen.retrieval.store import VectorStore


def make_store(settings: Settings, *, dimension: int, url: str | None = None) -> VectorStore:
    """``lancedb://<path>`` (or a bare path) -> LanceDB; ``http(s)://`` -> Weaviate."""
    url = url or settings.resolved_vector_store_url
    if url.startswith(("http://", "https://")):
        from kaizen.retrieval.weaviate_store import WeaviateStore

        return WeaviateStore(url, api_key=settings.weaviate_api_key.get_secret_value())
    if "://" in url and not url.startswith("lancedb://"):
        raise ValueError(f"unsupported vector store URL {url!r}: use lancedb://<path> or http(s)://<weaviate>")
    from kaizen.retrieval.lancedb_store import LanceDBStore

    return LanceDBStore(
        Path(url.removeprefix("lancedb://")),
        dimension=dimension,
        ann_min_rows=settings.vector_index_min_rows,
        resident_max_rows=settings.vector_resident_max_rows,
        metadata_cache_mb=settings.vector_metadata_cache_mb,
    )


def make_chunker(settings: Settings, embedder: Embedder) -> Chunker:
    # A chunk longer than the model's input would be silently truncated when embedded.
    max_tokens = min(settings.chunk_tokens, embedder.max_tokens)
    overlap = min(settings.chunk_overlap, max_tokens // 2 - 1)
    return Chunker(embedder.tokenizer, ChunkingOptions(max_tokens=max_tokens, overlap=overlap))
