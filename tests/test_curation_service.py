"""The curator service through the real broker: events in, examples out, nothing personal stored."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from kaizen.config import Settings
from kaizen.datasets.store import DatasetStore
from kaizen.events import Citation, DeadLetter, Feedback, InstructionExample, InteractionResponse, RaftExample, Thumbs
from kaizen.retrieval.factory import make_store
from kaizen.streaming.codec import original_bytes
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics
from tests.fixtures.retrieval import DIM, make_chunks
from tests.support.pii_samples import PII
from tests.support.topics import read_all

pytestmark = pytest.mark.timeout(300)


def make_response(question: str, answer: str, *, tenant: str = "acme") -> InteractionResponse:
    request_id = uuid.uuid4()
    return InteractionResponse(
        tenant=tenant,
        request_id=request_id,
        response_id=InteractionResponse.response_id_for(request_id),
        question=question,
        answer=answer,
        strategy="rag",
        citations=[Citation(document_id="d", chunk_id="d#0", knowledge_base="kb", quote=f"Source says: {answer}")],
        retrieved_chunk_ids=["d#0"],
    )


@pytest.fixture
def settings(kaizen_settings: Settings) -> Settings:
    return kaizen_settings.with_overrides(feedback_wait_seconds=4.0)


def test_curator_service_end_to_end(settings: Settings, run_service: Callable, tmp_path: Path) -> None:
    topics = Topics.from_settings(settings)
    # Planted PII: every value of the PII suite, in questions, answers and corrections.
    planted = [value for value, _ in PII]
    pii_responses = [
        make_response(f"Question {i}: my contact is {value}, what is the capital?", f"Paris. Also {value} here.")
        for i, value in enumerate(planted)
    ]
    plain = make_response("What is the capital of France?", "The capital of France is Paris.")
    early = make_response("What is the capital of Italy?", "The capital of Italy is Rome.")
    feedback = [Feedback(tenant="acme", response_id=r.response_id, thumbs=Thumbs.up) for r in pii_responses]
    corrected = Feedback(
        tenant="acme", response_id=plain.response_id, thumbs=Thumbs.down, correction=f"Paris. Write to {planted[0]}."
    )
    early_fb = Feedback(tenant="acme", response_id=early.response_id, rating=5)
    orphan = Feedback(tenant="acme", response_id=uuid.uuid4(), rating=5)
    intruder = Feedback(tenant="globex", response_id=plain.response_id, thumbs=Thumbs.up)
    expected_examples = len(feedback) + 2

    with run_service("services.curator", settings=settings), EventProducer(settings) as producer:
        # Feedback before its response, and one whose response never comes.
        producer.send_many(topics.feedback, [early_fb, orphan])
        time.sleep(1.0)
        producer.send_many(topics.responses, [*pii_responses, plain, early, plain])  # `plain` twice: a duplicate
        producer.send_many(topics.feedback, [*feedback, corrected, corrected, intruder])  # `corrected` twice as well
        producer._producer.send(topics.feedback, value=b"{not json", key=b"acme")
        producer.flush()

        def enough(values: list[bytes]) -> bool:
            return len({json.loads(v)["example_id"] for v in values}) >= expected_examples

        raw = read_all(settings, topics.instructions, until=enough)
        letters = read_all(settings, topics.dead_letters, until=lambda v: len(v) >= 3)
        rafts = read_all(settings, topics.raft, until=lambda v: len(v) >= expected_examples, timeout=10)

    examples = [InstructionExample.model_validate_json(v) for v in raw]
    by_id: dict[str, bytes] = {}
    for value, ex in zip(raw, examples, strict=True):
        # A duplicate event yields the very same example, byte for byte.
        assert by_id.setdefault(ex.example_id, value) == value
    assert len(by_id) == expected_examples
    assert {ex.feedback_id for ex in examples} == {f.event_id for f in [*feedback, corrected, early_fb]}
    fixed = next(ex for ex in examples if ex.feedback_id == corrected.event_id)
    assert fixed.output == "Paris. Write to [EMAIL]." and fixed.rejected_output == plain.answer
    assert all(RaftExample.model_validate_json(v).documents for v in rafts)

    dead = [DeadLetter.model_validate_json(v) for v in letters]
    assert {d.error_type for d in dead} >= {"json", "curation"}
    expired = next(d for d in dead if "no response" in d.error)
    assert str(orphan.response_id) in expired.error and "no response" in expired.error
    foreign = next(d for d in dead if "another tenant" in d.error)
    assert Feedback.model_validate_json(original_bytes(foreign)).event_id == intruder.event_id

    # Nothing personal anywhere the curator wrote: example topics, the responses' changelog, the dataset store.
    changelog = read_all(
        settings,
        f"{settings.topic_prefix}-curator-curator-responses-changelog",
        until=lambda v: len(v) >= len(pii_responses),
        timeout=10,
    )
    assert len(changelog) >= len(pii_responses)
    store = DatasetStore.from_settings(settings)
    version = store.snapshot("acme")
    stored_files = [p.read_text() for p in settings.datasets_dir.rglob("*.jsonl")]
    written = [*(v.decode() for v in raw + rafts + changelog if v), *stored_files]
    for value in planted:
        leaks = [w for w in written if value in w]
        assert not leaks, f"{value!r} leaked"
    assert version.counts.instructions == expected_examples
    assert sum(version.pii_counts.values()) >= 2 * len(planted)


def test_restart_recovers_responses_and_replay_changes_no_dataset(settings: Settings, run_service: Callable) -> None:
    topics = Topics.from_settings(settings)
    first = [make_response(f"Question number {i} about Paris?", f"Answer number {i}: Paris.") for i in range(5)]
    later = make_response("What river flows through Paris?", "The Seine flows through Paris.")
    feedback = [Feedback(tenant="acme", response_id=r.response_id, rating=5) for r in first]
    late_fb = Feedback(tenant="acme", response_id=later.response_id, thumbs=Thumbs.up)
    changelog = f"{settings.topic_prefix}-curator-curator-responses-changelog"
    store = DatasetStore.from_settings(settings)

    def examples(n: int) -> set[str]:
        raw = read_all(
            settings, topics.instructions, until=lambda v: len({json.loads(x)["example_id"] for x in v}) >= n
        )
        return {json.loads(v)["example_id"] for v in raw}

    with run_service("services.curator", settings=settings), EventProducer(settings) as producer:
        producer.send_many(topics.responses, [*first, later])
        producer.send_many(topics.feedback, feedback)
        assert len(examples(5)) == 5
        assert len(read_all(settings, changelog, until=lambda v: len(v) >= 6)) >= 6
    before = store.snapshot("acme")

    # A new worker process must find `later` in its recovered table: its feedback arrives only now.
    with run_service("services.curator", settings=settings), EventProducer(settings) as producer:
        producer.send_many(topics.feedback, [late_fb])
        assert len(examples(6)) == 6
        # Replaying every input again yields nothing new.
        producer.send_many(topics.responses, [*first, later])
        producer.send_many(topics.feedback, [*feedback, late_fb])
        read_all(settings, topics.instructions, until=lambda v: len(v) >= 12)
    after = store.snapshot("acme")
    assert after.counts.instructions == 6 and after.parent == before.version
    replayed = store.snapshot("acme")
    assert replayed.version == after.version and replayed.counts.feedback == 6


def test_raft_reads_a_knowledge_base_indexed_after_the_curator_started(
    settings: Settings, run_service: Callable
) -> None:
    topics = Topics.from_settings(settings)
    texts = {
        "leave": ["Parental leave is requested with form PL-1.", "Leave starts on a Monday."],
        "fleet": ["The Stoat S6 costs $47,150 before VAT.", "The Osprey O5 tank holds 9.5 litres."],
    }
    closed_book = make_response("Which form requests parental leave?", "Form X-9.")
    closed_book = closed_book.model_copy(update={"citations": [], "retrieved_chunk_ids": [], "strategy": "direct"})
    fb = Feedback(
        tenant="acme",
        response_id=closed_book.response_id,
        thumbs=Thumbs.down,
        correction="PL-1",
        source_document_ids=["leave"],
    )
    with run_service("services.curator", settings=settings), EventProducer(settings) as producer:
        # The knowledge base appears only now, as it does when a platform starts before its first ingestion.
        with make_store(settings, dimension=DIM) as store:
            for doc, chunk_texts in texts.items():
                store.upsert_document(*make_chunks(chunk_texts, document_id=doc, knowledge_base="hr", tenant="acme"))
        producer.send_many(topics.responses, [closed_book])
        producer.send_many(topics.feedback, [fb])
        rafts = read_all(settings, topics.raft, until=lambda v: len(v) >= 1)
    raft = RaftExample.model_validate_json(rafts[0])
    assert raft.knowledge_base == "hr"
    oracle = [d for d in raft.documents if d.oracle]
    assert [(d.chunk_id, d.text) for d in oracle] in ([], [("leave#0", texts["leave"][0])])  # P keeps it or not
    assert "PL-1" in raft.answer and raft.final_answer == "PL-1"
    distractors = {d.chunk_id for d in raft.documents if not d.oracle}
    assert distractors and distractors <= {"leave#1", "fleet#0", "fleet#1"}
