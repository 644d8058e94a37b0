"""The ``VectorStore`` interface every backend implements, and what the backends share."""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from kaizen.events import KbName, Tenant
from kaizen.retrieval.types import Chunk, KnowledgeBaseNotFound, MetadataValue, SearchHit, SearchMode

FusionMethod = Literal["linear", "rrf"]
RRF_K = 60
# Hybrid search fetches this many times top_k from each side before fusing, so fusion has candidates to rank.
HYBRID_OVERFETCH = 4
_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_KB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class UpsertResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    document_id: str
    status: Literal["inserted", "replaced", "unchanged"]
    chunks: int


def check_tenant(tenant: str) -> str:
    if not _TENANT.match(tenant):
        raise ValueError(f"invalid tenant {tenant!r}: expected {_TENANT.pattern}")
    return tenant


def check_knowledge_base(name: str) -> str:
    if not _KB.match(name):
        raise ValueError(f"invalid knowledge base name {name!r}: expected {_KB.pattern}")
    return name


def metadata_tags(metadata: dict[str, MetadataValue]) -> list[str]:
    """``key=<json value>`` strings: one list column filters any metadata key by equality, typed (1 != "1")."""
    return [f"{key}={json.dumps(value)}" for key, value in sorted(metadata.items())]


def not_found(tenant: str, knowledge_base: str) -> KnowledgeBaseNotFound:
    return KnowledgeBaseNotFound(
        f"knowledge base {knowledge_base!r} does not exist for tenant {tenant!r} "
        "(ingest documents into it first: kaizen ingest PATH --kb NAME)"
    )


def check_chunks(chunks: Sequence[Chunk], vectors: np.ndarray) -> Chunk:
    """All chunks of one document, one vector each; returns the first chunk (the document's identity)."""
    if not chunks:
        raise ValueError("a document needs at least one chunk")
    first = chunks[0]
    identity = (first.tenant, first.knowledge_base, first.document_id, first.content_hash)
    for chunk in chunks:
        if (chunk.tenant, chunk.knowledge_base, chunk.document_id, chunk.content_hash) != identity:
            raise ValueError("upsert_document takes the chunks of exactly one document version")
    if not first.content_hash:
        raise ValueError(f"document {first.document_id!r} has no content_hash")
    if vectors.ndim != 2 or vectors.shape[0] != len(chunks):
        raise ValueError(f"expected {len(chunks)} vectors, got an array of shape {vectors.shape}")
    check_tenant(first.tenant)
    check_knowledge_base(first.knowledge_base)
    return first


def _key(hit: SearchHit) -> tuple[str, str]:
    return hit.chunk.knowledge_base, hit.chunk.chunk_id


def _min_max(hits: Sequence[SearchHit]) -> dict[tuple[str, str], float]:
    if not hits:
        return {}
    scores = [h.score for h in hits]
    low, high = min(scores), max(scores)
    span = high - low
    return {_key(h): (h.score - low) / span if span > 0 else 1.0 for h in hits}


def fuse_hits(
    by_vector: Sequence[SearchHit],
    by_keyword: Sequence[SearchHit],
    *,
    top_k: int,
    alpha: float,
    fusion: FusionMethod,
) -> list[SearchHit]:
    """Hybrid ranking from a vector and a keyword ranking.

    linear: each side's scores min-max normalised, then ``alpha * vector + (1 - alpha) * keyword`` (Weaviate's
    relative-score fusion). rrf: reciprocal rank fusion, each side weighted by alpha / 1 - alpha.
    """
    # Keyed by knowledge base too: two knowledge bases may hold a document of the same id.
    chunks = {_key(h): h.chunk for h in [*by_keyword, *by_vector]}
    scores: dict[tuple[str, str], float] = {}
    if fusion == "linear":
        for weight, side in ((alpha, _min_max(by_vector)), (1 - alpha, _min_max(by_keyword))):
            for key, value in side.items():
                scores[key] = scores.get(key, 0.0) + weight * value
    else:
        for weight, ranking in ((alpha, by_vector), (1 - alpha, by_keyword)):
            for rank, hit in enumerate(ranking):
                key = _key(hit)
                scores[key] = scores.get(key, 0.0) + 2 * weight / (RRF_K + rank + 1)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top_k]
    return [SearchHit(chunk=chunks[key], score=score) for key, score in ranked]


def _checked_query(
    tenant: str,
    knowledge_bases: Sequence[str],
    mode: SearchMode,
    text: str | None,
    vector: np.ndarray | None,
    top_k: int,
    alpha: float,
    filters: dict[str, MetadataValue] | None,
) -> list[str]:
    """The filter tags of a valid query; a clear error for an invalid one."""
    check_tenant(tenant)
    if not knowledge_bases:
        raise ValueError("name at least one knowledge base to search")
    for kb in knowledge_bases:
        check_knowledge_base(kb)
    if top_k < 1:
        raise ValueError("top_k must be at least 1")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be within [0, 1]")
    if mode != "vector" and not (text and text.strip()):
        raise ValueError(f"{mode} search needs query text")
    if mode != "keyword" and vector is None:
        raise ValueError(f"{mode} search needs a query vector")
    return metadata_tags(filters or {})


def _ranked(hits: Sequence[SearchHit]) -> list[SearchHit]:
    return [hit.model_copy(update={"rank": i + 1}) for i, hit in enumerate(hits)]


class VectorStore(ABC):
    """Chunks with vectors, per tenant and knowledge base. Tenants never see each other's chunks."""

    @abstractmethod
    def upsert_document(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> UpsertResult:
        """Store one document's chunks; same content_hash = no-op, otherwise its old chunks are replaced."""

    def upsert_documents(self, documents: Sequence[tuple[Sequence[Chunk], np.ndarray]]) -> list[UpsertResult]:
        """Several documents; backends that can write them in one go override this."""
        return [self.upsert_document(chunks, vectors) for chunks, vectors in documents]

    def optimize(self) -> None:  # noqa: B027 - only some backends need maintenance
        """Fold recent writes into indexes; call after a batch of upserts."""

    @abstractmethod
    def document_hash(self, *, tenant: Tenant, knowledge_base: KbName, document_id: str) -> str | None:
        """The content_hash stored for a document, or None when it is not stored."""

    @abstractmethod
    def delete_document(self, *, tenant: Tenant, knowledge_base: KbName, document_id: str) -> int:
        """Remove a document's chunks; returns how many were removed (0 when absent)."""

    @abstractmethod
    def count(self, *, tenant: Tenant, knowledge_base: KbName, filters: dict[str, MetadataValue] | None = None) -> int:
        """Chunks stored; raises KnowledgeBaseNotFound for a knowledge base the tenant does not have."""

    def document_count(self, *, tenant: Tenant, knowledge_base: KbName) -> int | None:
        """Distinct documents in a knowledge base; None where a backend cannot tell cheaply."""
        return None

    @abstractmethod
    def knowledge_bases(self, *, tenant: Tenant) -> list[str]:
        """Names of the knowledge bases holding chunks of ``tenant``, sorted."""

    @abstractmethod
    def random_chunks(
        self,
        *,
        tenant: Tenant,
        knowledge_base: KbName,
        n: int,
        exclude: set[str] | None = None,
        seed: int = 0,
    ) -> list[Chunk]:
        """Up to ``n`` chunks drawn reproducibly by ``seed``, none whose chunk_id is in ``exclude``."""

    @abstractmethod
    def get_chunks(self, *, tenant: Tenant, knowledge_base: KbName, chunk_ids: Sequence[str]) -> list[Chunk]:
        """The stored chunks among ``chunk_ids``, in that order; unknown ids are left out."""

    @abstractmethod
    def document_chunks(self, *, tenant: Tenant, knowledge_base: KbName, document_id: str) -> list[Chunk]:
        """Every chunk of one document in position order; empty when the document is not stored."""

    @abstractmethod
    def _vector_search(
        self, tenant: str, knowledge_base: str, vector: np.ndarray, top_k: int, tags: list[str]
    ) -> list[SearchHit]: ...

    @abstractmethod
    def _keyword_search(
        self, tenant: str, knowledge_base: str, text: str, top_k: int, tags: list[str]
    ) -> list[SearchHit]: ...

    @abstractmethod
    def _hybrid_search(
        self,
        tenant: str,
        knowledge_base: str,
        text: str,
        vector: np.ndarray,
        top_k: int,
        alpha: float,
        fusion: FusionMethod,
        tags: list[str],
    ) -> list[SearchHit]: ...

    def search(
        self,
        *,
        tenant: Tenant,
        knowledge_base: KbName,
        mode: SearchMode = "hybrid",
        text: str | None = None,
        vector: np.ndarray | None = None,
        top_k: int = 5,
        alpha: float = 0.5,
        fusion: FusionMethod = "linear",
        filters: dict[str, MetadataValue] | None = None,
    ) -> list[SearchHit]:
        """Ranked hits (rank 1 first). ``alpha`` weighs vector against keyword scores: 1 = vector only."""
        tags = _checked_query(tenant, [knowledge_base], mode, text, vector, top_k, alpha, filters)
        return _ranked(self._search_one(tenant, knowledge_base, mode, text, vector, top_k, alpha, fusion, tags))

    def _search_one(
        self,
        tenant: str,
        knowledge_base: str,
        mode: SearchMode,
        text: str | None,
        vector: np.ndarray | None,
        top_k: int,
        alpha: float,
        fusion: FusionMethod,
        tags: list[str],
    ) -> list[SearchHit]:
        if mode == "vector":
            return self._vector_search(tenant, knowledge_base, vector, top_k, tags)  # type: ignore[arg-type]
        if mode == "keyword":
            return self._keyword_search(tenant, knowledge_base, text, top_k, tags)  # type: ignore[arg-type]
        return self._hybrid_search(tenant, knowledge_base, text, vector, top_k, alpha, fusion, tags)  # type: ignore[arg-type]

    def search_many(
        self,
        *,
        tenant: Tenant,
        knowledge_bases: Sequence[KbName],
        mode: SearchMode = "hybrid",
        text: str | None = None,
        vector: np.ndarray | None = None,
        top_k: int = 5,
        alpha: float = 0.5,
        fusion: FusionMethod = "linear",
        filters: dict[str, MetadataValue] | None = None,
        skip_missing: Sequence[KbName] = (),
    ) -> list[SearchHit]:
        """One ranking over several knowledge bases; those in ``skip_missing`` may not exist yet.

        Hybrid scores are fused over the union of every knowledge base's vector and keyword hits. Fusing each
        knowledge base alone normalises its own best hit to the top score, so a merge of those rankings put the
        best chunk of every knowledge base, relevant or not, ahead of the second best chunk of the right one.
        Raw vector (cosine) and keyword (BM25) scores are comparable across knowledge bases of one backend.
        """
        kbs = list(dict.fromkeys(knowledge_bases))
        tags = _checked_query(tenant, kbs, mode, text, vector, top_k, alpha, filters)
        optional = set(skip_missing)

        def each(kb: str, search: Callable[[], list[SearchHit]]) -> list[SearchHit]:
            try:
                return search()
            except KnowledgeBaseNotFound:
                if kb in optional:
                    return []
                raise

        if len(kbs) == 1:  # the backend's own hybrid search (and its in-memory copy) serve one knowledge base
            kb = kbs[0]
            return _ranked(
                each(kb, lambda: self._search_one(tenant, kb, mode, text, vector, top_k, alpha, fusion, tags))
            )
        depth = top_k * HYBRID_OVERFETCH if mode == "hybrid" else top_k
        by_vector: list[SearchHit] = []
        by_keyword: list[SearchHit] = []
        for kb in kbs:
            if mode != "keyword":
                by_vector += each(kb, lambda kb=kb: self._vector_search(tenant, kb, vector, depth, tags))  # type: ignore[misc, arg-type]
            if mode != "vector":
                by_keyword += each(kb, lambda kb=kb: self._keyword_search(tenant, kb, text, depth, tags))  # type: ignore[misc, arg-type]
        if mode == "hybrid":
            return _ranked(fuse_hits(by_vector, by_keyword, top_k=top_k, alpha=alpha, fusion=fusion))
        return _ranked(sorted(by_vector or by_keyword, key=lambda h: -h.score)[:top_k])

    def close(self) -> None:  # noqa: B027 - optional for backends without connections
        """Release connections."""

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
