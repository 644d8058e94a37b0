"""The indexer service through the real broker: events in, chunks in LanceDB; replay changes nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest

from kaizen.config import Settings
from kaizen.events import DeadLetter, DocumentEvent, DocumentOp
from kaizen.retrieval.answers import answer_document_id
from kaizen.retrieval.lancedb_store import LanceDBStore
from kaizen.retrieval.types import KnowledgeBaseNotFound
from kaizen.streaming.consumer import EventReader
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics
from tests.fixtures.retrieval import curated_example

pytestmark = pytest.mark.slow


def _wait_for(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except KnowledgeBaseNotFound:
            pass
        time.sleep(0.5)
    raise TimeoutError("condition not met in time")


def test_indexer_service_indexes_replays_and_dead_letters(kaizen_settings: Settings, run_service) -> None:  # type: ignore[no-untyped-def]
    topics = Topics.from_settings(kaizen_settings)
    kb = f"kb-{uuid.uuid4().hex[:6]}"
    events = [
        DocumentEvent(knowledge_base=kb, document_id="a", title="A", text="Parcels ship in two days."),
        DocumentEvent(knowledge_base=kb, document_id="b", title="B", text="Returns are accepted for 30 days."),
        DocumentEvent(knowledge_base=kb, document_id="a", op=DocumentOp.delete),
        DocumentEvent(knowledge_base=kb, document_id="c", text="Acme only.", tenant="acme"),
    ]
    store = LanceDBStore(kaizen_settings.resolved_vector_store_url.removeprefix("lancedb://"), dimension=384)

    def state() -> list[tuple[str, str, str]]:
        rows = []
        for tenant in ("default", "acme"):
            rows += [(tenant, c.chunk_id, c.text) for c in store.random_chunks(tenant=tenant, knowledge_base=kb, n=99)]
        return sorted(rows)

    with run_service("services.indexer"), EventProducer(kaizen_settings) as producer:
        for event in events:
            producer.send(topics.documents, event)
        producer.flush()
        # Bytes that bypass the producer's validation: an upsert without text, and something not JSON at all.
        no_text = json.dumps(events[1].model_dump(mode="json") | {"document_id": "no-text", "text": ""})
        for value in (no_text.encode(), b"not json"):
            producer._producer.send(topics.documents, value=value)
        producer.flush()
        settled = [("acme", "c#0", "Acme only."), ("default", "b#0", "Returns are accepted for 30 days.")]
        _wait_for(lambda: state() == settled)

        for event in events:  # replay the topic's events
            producer.send(topics.documents, event)
        producer.flush()
        marker = DocumentEvent(knowledge_base=kb, document_id="marker", text="sent after the replay")
        producer.send(topics.documents, marker)
        producer.flush()
        _wait_for(lambda: store.document_hash(tenant="default", knowledge_base=kb, document_id="marker") is not None)
        store.delete_document(tenant="default", knowledge_base=kb, document_id="marker")
        assert state() == settled

    reader = EventReader(kaizen_settings, topics.dead_letters, DeadLetter)
    try:
        letters = reader.collect(until=lambda found: len(found) >= 2, timeout=30)
    finally:
        reader.close()
    assert len(letters) == 2 and {letter.service for letter in letters} == {"indexer"}
    assert any("non-empty text" in letter.error for letter in letters)
    assert any("not valid JSON" in letter.error for letter in letters)


def test_indexer_service_keeps_curated_answers_as_verified_answers(kaizen_settings: Settings, run_service) -> None:  # type: ignore[no-untyped-def]
    topics = Topics.from_settings(kaizen_settings)
    tenant = f"t{uuid.uuid4().hex[:8]}"
    kb = kaizen_settings.answers_knowledge_base

    store = LanceDBStore(kaizen_settings.resolved_vector_store_url.removeprefix("lancedb://"), dimension=384)
    parcels = answer_document_id("How long do parcels take to ship?")

    def texts() -> list[str]:
        return [c.text for c in store.document_chunks(tenant=tenant, knowledge_base=kb, document_id=parcels)]

    with run_service("services.indexer"), EventProducer(kaizen_settings) as producer:
        for ex in (
            curated_example("How long do parcels take to ship?", "two days", tenant=tenant),
            curated_example("What is the returns window?", "no idea", accepted=False, tenant=tenant),
            # The same question again, corrected later: the newer verified answer replaces the older one.
            curated_example("how long do parcels take to SHIP?", "2 working days", tenant=tenant),
        ):
            producer.send(topics.instructions, ex)
        producer.flush()
        _wait_for(lambda: texts() == ["Question: how long do parcels take to SHIP?\nAnswer: 2 working days"])
    assert store.count(tenant=tenant, knowledge_base=kb) == 1, "a rejected answer is never remembered"
