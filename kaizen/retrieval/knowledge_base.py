"""The query side: ``KnowledgeBase`` implements the ``Retriever`` protocol over an embedder and a store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kaizen.config import Settings
from kaizen.retrieval.embedder import Embedder, get_embedder
from kaizen.retrieval.factory import make_store
from kaizen.retrieval.store import FusionMethod, VectorStore
from kaizen.retrieval.types import Chunk, MetadataValue, SearchHit, SearchMode


class KnowledgeBase:
    """Searches one tenant's knowledge bases; the query is embedded on a worker thread, never on the loop."""

    def __init__(self, store: VectorStore, embedder: Embedder, *, fusion: FusionMethod = "linear") -> None:
        self.store = store
        self.embedder = embedder
        self.fusion = fusion

    @classmethod
    def from_settings(cls, settings: Settings) -> KnowledgeBase:
        embedder = get_embedder(settings)
        return cls(make_store(settings, dimension=embedder.dimension), embedder)

    def search_sync(
        self,
        query: str,
        *,
        tenant: str,
        knowledge_bases: list[str],
        mode: SearchMode = "hybrid",
        top_k: int = 5,
        alpha: float = 0.5,
        filters: dict[str, MetadataValue] | None = None,
        optional_knowledge_bases: Sequence[str] = (),
    ) -> list[SearchHit]:
        vector = self.embedder.embed_query(query) if mode != "keyword" else None
        return self._search(
            query, vector, tenant, knowledge_bases, mode, top_k, alpha, filters, optional_knowledge_bases
        )

    def _search(
        self,
        query: str,
        vector: object,
        tenant: str,
        knowledge_bases: list[str],
        mode: SearchMode,
        top_k: int,
        alpha: float,
        filters: dict[str, MetadataValue] | None,
        optional: Sequence[str],
    ) -> list[SearchHit]:
        if not knowledge_bases:
            raise ValueError("name at least one knowledge base to search")
        return self.store.search_many(
            tenant=tenant,
            knowledge_bases=[*knowledge_bases, *optional],
            mode=mode,
            text=query,
            vector=vector,  # type: ignore[arg-type]
            top_k=top_k,
            alpha=alpha,
            fusion=self.fusion,
            filters=filters,
            skip_missing=[kb for kb in optional if kb not in knowledge_bases],
        )

    async def search(
        self,
        query: str,
        *,
        tenant: str,
        knowledge_bases: list[str],
        mode: SearchMode = "hybrid",
        top_k: int = 5,
        alpha: float = 0.5,
        filters: dict[str, MetadataValue] | None = None,
        optional_knowledge_bases: Sequence[str] = (),
    ) -> list[SearchHit]:
        vector = await self.embedder.aembed_query(query) if mode != "keyword" else None
        return await asyncio.to_thread(
            self._search, query, vector, tenant, knowledge_bases, mode, top_k, alpha, filters, optional_knowledge_bases
        )

    async def random_chunks(
        self, *, tenant: str, knowledge_base: str, n: int, exclude: set[str] | None = None, seed: int = 0
    ) -> list[Chunk]:
        return await asyncio.to_thread(
            self.store.random_chunks, tenant=tenant, knowledge_base=knowledge_base, n=n, exclude=exclude, seed=seed
        )
