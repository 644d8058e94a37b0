"""The shipped demo domain (Quillmoor): enough data, consistent ids, answers that really are in their documents."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from kaizen.demo.domain import DemoQuestion, shipped_domain

QUILLMOOR = shipped_domain()
KNOWLEDGE_BASES = QUILLMOOR.knowledge_bases
load_documents = QUILLMOOR.documents
load_questions = QUILLMOOR.questions
documents_by_id = QUILLMOOR.documents_by_id


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def test_enough_documents_in_every_knowledge_base() -> None:
    docs = load_documents()
    assert len(docs) >= 60
    per_kb = Counter(d.knowledge_base for d in docs)
    assert set(per_kb) == set(KNOWLEDGE_BASES)
    assert min(per_kb.values()) >= 15
    assert load_documents("policies") == [d for d in docs if d.knowledge_base == "policies"]


def test_documents_are_dense_text_of_the_agreed_length() -> None:
    for doc in load_documents():
        assert 150 <= _words(doc.text) <= 400, (doc.document_id, _words(doc.text))
        assert doc.text.startswith(f"# {doc.title}")


def test_ids_are_unique() -> None:
    docs = load_documents()
    questions = load_questions()
    assert len({d.document_id for d in docs}) == len(docs)
    assert len({q.question_id for q in questions}) == len(questions)
    assert len({q.question for q in questions}) == len(questions)


def test_enough_questions_split_about_two_to_one() -> None:
    questions = load_questions()
    stream, heldout = load_questions("stream"), load_questions("heldout")
    assert len(questions) >= 300
    assert len(stream) + len(heldout) == len(questions)
    assert {q.question_id for q in stream}.isdisjoint(q.question_id for q in heldout)
    assert 0.55 <= len(stream) / len(questions) <= 0.8
    kinds = Counter(q.kind for q in questions)
    assert kinds["multi_hop"] >= 5 and kinds["arithmetic"] >= 5


@pytest.mark.parametrize("question", load_questions(), ids=lambda q: q.question_id)
def test_every_answer_is_stated_in_its_document(question: DemoQuestion) -> None:
    docs = documents_by_id()
    assert question.document_id in docs
    doc = docs[question.document_id]
    assert question.knowledge_base == doc.knowledge_base
    assert question.answer.lower() in doc.text.lower()
    assert question.fact_id.split("#")[0] in (question.document_id, "cross")
    assert all(s in docs for s in question.supporting_document_ids)
    assert len(question.answer) <= 40, "answers stay short so contains-scoring means something"


def test_heldout_partly_paraphrases_stream_facts_and_partly_new_facts() -> None:
    stream = load_questions("stream")
    heldout = load_questions("heldout")
    stream_facts = {q.fact_id: q for q in stream}
    paraphrases = [q for q in heldout if q.fact_id in stream_facts]
    assert 0.5 <= len(paraphrases) / len(heldout) <= 0.85
    for q in paraphrases:
        twin = stream_facts[q.fact_id]
        assert twin.answer == q.answer and twin.question != q.question


def test_cross_document_questions_span_knowledge_bases() -> None:
    docs = documents_by_id()
    hops = [q for q in load_questions() if q.kind == "multi_hop" and q.supporting_document_ids]
    assert any(docs[s].knowledge_base != q.knowledge_base for q in hops for s in q.supporting_document_ids)


def test_facts_with_a_heldout_twin_are_streamed_in_three_phrasings() -> None:
    """Real traffic repeats popular questions in other words; those phrasings are what training generalises from."""
    heldout_facts = {q.fact_id for q in load_questions("heldout")}
    by_fact: dict[str, list[DemoQuestion]] = {}
    for q in load_questions("stream"):
        by_fact.setdefault(q.fact_id, []).append(q)
    twins = {f: qs for f, qs in by_fact.items() if f in heldout_facts}
    assert len(twins) >= 100
    for fact, qs in twins.items():
        assert len(qs) == 3, fact
        assert len({q.question.casefold() for q in qs}) == 3 and len({q.answer for q in qs}) == 1
