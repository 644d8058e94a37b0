"""Indexer (real model, real LanceDB): events in, chunks out; replays leave the store as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kaizen.config import Settings
from kaizen.events import DocumentEvent, DocumentOp
from kaizen.retrieval.embedder import Embedder
from kaizen.retrieval.indexer import Indexer, document_event
from kaizen.retrieval.knowledge_base import KnowledgeBase
from kaizen.retrieval.lancedb_store import LanceDBStore
from kaizen.retrieval.loaders import load_file
from kaizen.retrieval.types import KnowledgeBaseNotFound, Retriever

pytestmark = pytest.mark.slow

PASSWORD = "# Accounts\n\n## Passwords\n\nTo reset a forgotten password, open Settings and choose Reset password."
BILLING = "# Billing\n\nInvoices are sent on the first day of every month by email."
FORMAT = {"format": "markdown"}


@pytest.fixture
def indexer(tmp_path: Path, real_embedder: Embedder) -> Indexer:
    return Indexer.from_settings(Settings(data_dir=tmp_path / "data", chunk_tokens=64, chunk_overlap=8))


def _event(doc: str, text: str, **kwargs: object) -> DocumentEvent:
    return DocumentEvent(knowledge_base="help", document_id=doc, title=doc.title(), text=text, **kwargs)  # type: ignore[arg-type]


def _snapshot(store: LanceDBStore) -> list[tuple[object, ...]]:
    table = store._table("help")
    assert table is not None
    rows = table.search().select(["tenant", "chunk_id", "text", "content_hash", "vector"]).limit(10_000).to_arrow()
    return sorted(
        (r["tenant"], r["chunk_id"], r["text"], r["content_hash"], np.round(r["vector"], 5).tobytes())
        for r in rows.to_pylist()
    )


def test_replaying_events_leaves_the_store_unchanged(indexer: Indexer) -> None:
    long_text = "# Manual\n\n" + " ".join(f"Step {i}: tighten bolt {i}." for i in range(80))
    events = [
        _event("password", PASSWORD, metadata=FORMAT),
        _event("billing", BILLING, metadata=FORMAT),
        _event("manual", long_text, metadata=FORMAT),
        _event("billing", BILLING + " Refunds take five days.", metadata=FORMAT),
        _event("password", "", op=DocumentOp.delete),
        _event("password", PASSWORD, tenant="acme", metadata=FORMAT),
    ]
    first = [indexer.apply(e).action for e in events]
    assert first == ["inserted", "inserted", "inserted", "replaced", "deleted", "inserted"]
    store = indexer.store
    assert isinstance(store, LanceDBStore)
    before = _snapshot(store)
    assert len([r for r in before if r[1].startswith("manual#")]) > 3  # the long document was split
    version = store._table("help").version  # type: ignore[union-attr]

    for event in events[3:]:  # replaying the tail: no write at all
        assert indexer.apply(event).action in {"unchanged", "absent"}
    assert store._table("help").version == version  # type: ignore[union-attr]

    for event in events:  # replaying the whole topic from the start ends where it ended
        indexer.apply(event)
    assert _snapshot(store) == before


async def test_retriever_searches_what_the_indexer_wrote(indexer: Indexer, real_embedder: Embedder) -> None:
    for event in (
        _event("password", PASSWORD, metadata=FORMAT),
        _event("billing", BILLING, metadata={"format": "markdown", "team": "finance"}),
        _event("other", "Globex keeps its own password policy.", tenant="globex"),
    ):
        await indexer.apply_async(event)
    retriever = KnowledgeBase(indexer.store, real_embedder)
    assert isinstance(retriever, Retriever)

    hits = await retriever.search("how do I change my password", tenant="default", knowledge_bases=["help"])
    assert hits[0].chunk.document_id == "password"
    assert hits[0].chunk.heading == "Accounts > Passwords" and hits[0].chunk.title == "Password"
    assert all(h.chunk.tenant == "default" for h in hits)
    for mode in ("vector", "keyword"):
        top = await retriever.search("when are invoices sent", tenant="default", knowledge_bases=["help"], mode=mode)
        assert top[0].chunk.document_id == "billing", mode
    only_finance = await retriever.search(
        "password", tenant="default", knowledge_bases=["help"], filters={"team": "finance"}
    )
    assert {h.chunk.document_id for h in only_finance} == {"billing"}
    assert [c.document_id for c in await retriever.random_chunks(tenant="globex", knowledge_base="help", n=5)] == [
        "other"
    ]
    with pytest.raises(KnowledgeBaseNotFound, match="'manuals'"):
        await retriever.search("x", tenant="default", knowledge_bases=["help", "manuals"])


def test_loaded_files_index_with_their_headings(indexer: Indexer, tmp_path: Path) -> None:
    page = tmp_path / "faq.html"
    page.write_text("<html><title>FAQ</title><body><h1>Shipping</h1><p>Parcels ship in two days.</p></body></html>")
    event = document_event(load_file(page), knowledge_base="help", tenant="acme")
    assert indexer.apply(event).action == "inserted"
    hit = KnowledgeBase(indexer.store, indexer.embedder).search_sync(
        "how long does shipping take", tenant="acme", knowledge_bases=["help"]
    )[0]
    assert (hit.chunk.title, hit.chunk.heading, hit.chunk.text) == ("FAQ", "Shipping", "Parcels ship in two days.")
    assert hit.chunk.metadata["format"] == "html"


def test_upsert_without_text_is_refused(indexer: Indexer) -> None:
    with pytest.raises(ValueError, match="non-empty text"):
        _event("empty", "   ")
    forged = DocumentEvent.model_construct(knowledge_base="help", document_id="empty", text=" ", op=DocumentOp.upsert)
    with pytest.raises(ValueError, match="no text"):
        indexer.apply(forged)
