import json
import uuid
from datetime import UTC, datetime

import jsonschema
import pytest
from pydantic import ValidationError

from kaizen import events as ev
from kaizen.schemas import schema_for

SAMPLES: list[ev.Event] = [
    ev.InteractionRequest(
        tenant="acme", user_id="u1", question="What is RAFT?", mode=ev.Mode.rag, knowledge_bases=["handbook"]
    ),
    ev.InteractionRequest(
        question="And how long does it last?",
        session_id="s1",
        system="Be brief.",
        history=[ev.Turn(role="user", content="What is parental leave?"), ev.Turn(role="assistant", content="Paid.")],
        stream=True,
    ),
    ev.InteractionDelta(request_id=uuid.uuid4(), index=0, text="Pai"),
    ev.InteractionResponse(
        request_id=uuid.uuid4(),
        response_id=uuid.uuid4(),
        answer="A method.",
        reasoning=["step"],
        citations=[ev.Citation(document_id="d", chunk_id="d#0", knowledge_base="kb", quote="q")],
        trace=[ev.TraceStep(step="generate", detail={"tokens": 3})],
        adapter_version="v1",
        latency_ms=1.5,
    ),
    ev.Feedback(response_id=uuid.uuid4(), thumbs=ev.Thumbs.down, rating=2, correction="B", labels=["wrong"]),
    ev.DocumentEvent(document_id="doc-1", knowledge_base="kb", title="T", text="body", metadata={"lang": "en"}),
    ev.DocumentEvent(document_id="doc-1", knowledge_base="kb", op=ev.DocumentOp.delete),
    ev.InstructionExample(
        example_id="e1", feedback_id=uuid.uuid4(), response_id=uuid.uuid4(), instruction="Q", output="A"
    ),
    ev.RaftExample(
        example_id="r1",
        question="Q",
        oracle_included=True,
        answer="##begin_quote##x##end_quote## A",
        final_answer="A",
        documents=[ev.RaftDocument(chunk_id="c", document_id="d", text="x", oracle=True)],
    ),
    ev.AdapterEvent(action=ev.AdapterAction.promoted, version="v2", manifest_url="file:///m.json", checksum="a" * 64),
    ev.DeadLetter(original="e30=", topic="t", error="bad"),
]


def test_every_event_kind_has_a_sample() -> None:
    assert {type(s) for s in SAMPLES} == set(ev.ALL_EVENTS)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).kind)
def test_round_trip_json_and_schema(event: ev.Event) -> None:
    wire = event.to_bytes()
    assert type(event).model_validate_json(wire) == event
    jsonschema.validate(json.loads(wire), schema_for(type(event)), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).kind)
def test_schema_rejects_what_the_model_rejects(event: ev.Event) -> None:
    data = json.loads(event.to_bytes())
    data["unexpected_field"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema_for(type(event)), cls=jsonschema.Draft202012Validator)
    with pytest.raises(ValidationError):
        type(event).model_validate(data)


def test_common_fields() -> None:
    req = ev.InteractionRequest(question="q")
    assert isinstance(req.event_id, uuid.UUID)
    assert req.schema_version == 1
    assert req.created_at.tzinfo is not None and req.created_at.utcoffset().total_seconds() == 0
    assert req.tenant == "default"


def test_naive_timestamps_and_bad_tenants_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        ev.InteractionRequest(question="q", created_at=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        ev.InteractionRequest(question="q", tenant="Has Spaces")
    assert ev.InteractionRequest(question="q", created_at=datetime(2026, 1, 1, tzinfo=UTC)).created_at.year == 2026


def test_upsert_without_text_is_invalid() -> None:
    with pytest.raises(ValidationError, match="non-empty text"):
        ev.DocumentEvent(document_id="d", knowledge_base="kb", text="  ")


def test_response_id_is_stable_per_request() -> None:
    rid = uuid.uuid4()
    assert ev.InteractionResponse.response_id_for(rid) == ev.InteractionResponse.response_id_for(rid)
    assert ev.InteractionResponse.response_id_for(rid) != ev.InteractionResponse.response_id_for(uuid.uuid4())
