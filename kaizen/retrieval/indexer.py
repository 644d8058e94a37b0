"""The write side: document events become chunks with vectors in the store (what services/indexer runs)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict

from kaizen.config import Settings
from kaizen.events import DocumentEvent, DocumentOp
from kaizen.retrieval.chunking import Chunker, embedding_text
from kaizen.retrieval.documents import LoadedDocument, content_hash
from kaizen.retrieval.embedder import Embedder, get_embedder
from kaizen.retrieval.factory import make_chunker, make_store
from kaizen.retrieval.store import VectorStore

log = logging.getLogger(__name__)


class IndexResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    document_id: str
    knowledge_base: str
    tenant: str
    action: Literal["inserted", "replaced", "unchanged", "deleted", "absent"]
    chunks: int


class Indexer:
    """Applies document events idempotently: replaying the same events leaves the store as it was."""

    def __init__(self, store: VectorStore, embedder: Embedder, chunker: Chunker, *, optimize_every: int = 200) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.optimize_every = optimize_every
        self._writes = 0
        # One writer at a time per process: a document's hash check and replacement must not interleave.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Indexer:
        embedder = get_embedder(settings)
        store = make_store(settings, dimension=embedder.dimension)
        return cls(store, embedder, make_chunker(settings, embedder))

    def apply(self, event: DocumentEvent) -> IndexResult:
        with self._lock:
            if event.op == DocumentOp.delete:
                removed = self.store.delete_document(
                    tenant=event.tenant, knowledge_base=event.knowledge_base, document_id=event.document_id
                )
                return self._result(event, "deleted" if removed else "absent", removed)
            if not event.text.strip():
                raise ValueError(f"document {event.document_id!r} has no text to index")
            digest = content_hash(event.title, event.text, event.metadata)
            stored = self.store.document_hash(
                tenant=event.tenant, knowledge_base=event.knowledge_base, document_id=event.document_id
            )
            if stored == digest:  # a replay: skip the embedding work too
                return self._result(event, "unchanged", 0)
            chunks = self.chunker.chunk(
                document_id=event.document_id,
                knowledge_base=event.knowledge_base,
                text=event.text,
                title=event.title,
                tenant=event.tenant,
                metadata=event.metadata,
                content_hash=digest,
                parse_headings=event.metadata.get("format") != "text",
            )
            if not chunks:
                raise ValueError(f"document {event.document_id!r} produced no chunks")
            vectors = self.embedder.embed([embedding_text(c) for c in chunks])
            outcome = self.store.upsert_document(chunks, vectors)
            self._writes += 1
            if self._writes % self.optimize_every == 0:
                self.store.optimize()
            return self._result(event, outcome.status, outcome.chunks)

    async def apply_async(self, event: DocumentEvent) -> IndexResult:
        """For the Faust agent: chunking, embedding and writing run on a worker thread."""
        return await asyncio.to_thread(self.apply, event)

    @staticmethod
    def _result(event: DocumentEvent, action: str, chunks: int) -> IndexResult:
        result = IndexResult(
            document_id=event.document_id,
            knowledge_base=event.knowledge_base,
            tenant=event.tenant,
            action=action,  # type: ignore[arg-type]
            chunks=chunks,
        )
        log.info("%s/%s/%s: %s (%d chunks)", event.tenant, event.knowledge_base, event.document_id, action, chunks)
        return result


def document_event(document: LoadedDocument, *, knowledge_base: str, tenant: str = "default") -> DocumentEvent:
    """The upsert event for a loaded file."""
    return DocumentEvent(
        tenant=tenant,
        knowledge_base=knowledge_base,
        document_id=document.document_id,
        title=document.title,
        text=document.text,
        metadata=document.metadata,
    )
