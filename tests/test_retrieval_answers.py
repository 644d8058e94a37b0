"""Verified answers: curated examples become documents that the next, differently worded question retrieves."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaizen.config import Settings
from kaizen.events import DocumentEvent
from kaizen.retrieval.answers import MAX_ANSWER_CHARS, answer_document, answer_document_id
from kaizen.retrieval.embedder import Embedder
from kaizen.retrieval.indexer import Indexer
from kaizen.retrieval.knowledge_base import KnowledgeBase
from tests.fixtures.retrieval import curated_example

HANDBOOK = [
    ("leave", "# Leave\n\nParental leave is 20 weeks at full pay. Notify your manager with form PL-1."),
    ("travel", "# Travel\n\nBook trains through Slipway. Flights over four hours may be booked in premium economy."),
    ("security", "# Security\n\nThe VPN is called Moorings. Passwords must be at least 14 characters long."),
]


def test_an_accepted_answer_becomes_one_document_per_question() -> None:
    example = curated_example("  What is the VPN   called? ", "Moorings")
    event = answer_document(example, knowledge_base="answers")
    assert isinstance(event, DocumentEvent)
    assert (event.knowledge_base, event.tenant) == ("answers", "default")
    assert event.text == "Question: What is the VPN called?\nAnswer: Moorings"
    assert event.metadata["feedback_id"] == str(example.feedback_id)
    # The same question, however cased or spaced, names the same document: a newer answer replaces the older.
    assert event.document_id == answer_document_id("what is the vpn called?") != answer_document_id("VPN name?")


def test_nothing_is_remembered_from_a_rejection_an_overlong_answer_or_when_off() -> None:
    assert (
        answer_document(curated_example("What is the VPN called?", "no idea", accepted=False), knowledge_base="a")
        is None
    )
    assert answer_document(curated_example("Why?", "x" * MAX_ANSWER_CHARS), knowledge_base="answers") is None
    assert answer_document(curated_example("What is the VPN called?", "Moorings"), knowledge_base="") is None


@pytest.mark.slow
def test_a_rephrased_question_retrieves_the_verified_answer(tmp_path: Path, real_embedder: Embedder) -> None:
    indexer = Indexer.from_settings(Settings(data_dir=tmp_path / "data", chunk_tokens=64, chunk_overlap=8))
    for doc, text in HANDBOOK:
        indexer.apply(DocumentEvent(knowledge_base="handbook", document_id=doc, title=doc.title(), text=text))
    kb = KnowledgeBase(indexer.store, indexer.embedder)
    question = "How many weeks of paid leave do new parents get?"
    # Before any feedback the answers knowledge base does not exist: optional, so the search still answers.
    before = kb.search_sync(
        question, tenant="default", knowledge_bases=["handbook"], optional_knowledge_bases=["answers"]
    )
    assert before[0].chunk.document_id == "leave"
    remembered = answer_document(curated_example("How long is parental leave?", "20 weeks"), knowledge_base="answers")
    assert remembered is not None
    indexer.apply(remembered)
    hits = kb.search_sync(
        question, tenant="default", knowledge_bases=["handbook"], optional_knowledge_bases=["answers"], top_k=3
    )
    assert ("answers", remembered.text) in {(h.chunk.knowledge_base, h.chunk.text) for h in hits}
    assert "leave" in {h.chunk.document_id for h in hits}, "the handbook's chunk still sits among the sources"
    # Another tenant's verified answers are never among a tenant's sources.
    indexer.apply(DocumentEvent(tenant="acme", knowledge_base="handbook", document_id="leave", text=HANDBOOK[0][1]))
    other = kb.search_sync(question, tenant="acme", knowledge_bases=["handbook"], optional_knowledge_bases=["answers"])
    assert [h.chunk.knowledge_base for h in other] == ["handbook"]
