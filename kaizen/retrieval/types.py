"""The contract between knowledge bases and the strategies that read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

SearchMode = Literal["vector", "keyword", "hybrid"]
MetadataValue = str | int | float | bool


class Chunk(BaseModel):
    model_config = ConfigDict(frozen=True)

    chunk_id: str = Field(description="<document_id>#<position>")
    document_id: str
    knowledge_base: str
    tenant: str = "default"
    title: str = ""
    heading: str = ""
    text: str
    position: int = 0
    content_hash: str = Field("", description="sha256 of the whole document's text")
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)


class SearchHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    chunk: Chunk
    score: float
    rank: int = 0


class KnowledgeBaseNotFound(LookupError):
    """A query named a knowledge base that does not exist for this tenant."""


@runtime_checkable
class Retriever(Protocol):
    """Query-side view of the knowledge bases (embedding + store)."""

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
        """One ranking over ``knowledge_bases`` and ``optional_knowledge_bases`` (which may not exist yet)."""
        ...

    async def random_chunks(
        self, *, tenant: str, knowledge_base: str, n: int, exclude: set[str] | None = None, seed: int = 0
    ) -> list[Chunk]: ...
