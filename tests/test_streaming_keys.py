"""Partition keys: what must stay in order shares a partition; one tenant's independent requests spread out."""

from __future__ import annotations

from pathlib import Path

import yaml
from aiokafka.partitioner import DefaultPartitioner as AioPartitioner
from kafka.partitioner.default import murmur2

from kaizen.config import Settings
from kaizen.events import (
    AdapterAction,
    AdapterEvent,
    DocumentEvent,
    DocumentOp,
    Feedback,
    InteractionDelta,
    InteractionRequest,
    InteractionResponse,
)
from kaizen.streaming.producer import event_key
from kaizen.topics import Topics

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 12


def _partition(key: bytes, partitions: int = PARTITIONS) -> int:
    """The partition both clients pick (aiokafka for Faust and the gateway, kafka-python for scripts and flows)."""
    ids = list(range(partitions))
    aio = AioPartitioner()(key, ids, ids)
    assert (murmur2(key) & 0x7FFFFFFF) % partitions == aio
    return aio


def _response(request: InteractionRequest) -> InteractionResponse:
    return InteractionResponse(
        tenant=request.tenant,
        request_id=request.event_id,
        response_id=InteractionResponse.response_id_for(request.event_id),
        answer="a",
    )


def test_requests_without_a_session_are_keyed_by_their_own_id_and_one_tenants_spread_over_every_partition() -> None:
    requests = [InteractionRequest(tenant="acme", question=f"q{i}") for i in range(200)]
    assert all(event_key(r) == str(r.event_id).encode() for r in requests)
    assert {_partition(event_key(r)) for r in requests} == set(range(PARTITIONS))


def test_a_conversations_turns_share_one_key_and_sessions_of_one_tenant_spread() -> None:
    turns = [InteractionRequest(tenant="acme", session_id="s-1", question=f"turn {i}") for i in range(5)]
    assert len({event_key(t) for t in turns}) == 1
    # The same session id in another tenant is another conversation.
    assert event_key(InteractionRequest(tenant="other", session_id="s-1", question="q")) != event_key(turns[0])
    sessions = [InteractionRequest(tenant="acme", session_id=f"s-{i}", question="q") for i in range(200)]
    assert {_partition(event_key(s)) for s in sessions} == set(range(PARTITIONS))
    # An empty session id names no conversation.
    blank = InteractionRequest(tenant="acme", session_id="", question="q")
    assert event_key(blank) == str(blank.event_id).encode()


def test_a_response_and_its_feedback_share_a_key_and_land_on_the_same_partition_number() -> None:
    for i in range(100):
        request = InteractionRequest(tenant="acme", user_id=f"u{i}", question="q")
        response = _response(request)
        feedback = Feedback(tenant="acme", response_id=response.response_id, rating=5)
        assert event_key(response) == event_key(feedback) == str(response.response_id).encode()
        assert _partition(event_key(response)) == _partition(event_key(feedback))


def test_responses_and_feedback_are_co_partitioned_in_code_and_in_the_deployment() -> None:
    # The curator's join holds when both topics have the same partition count: Faust then assigns the same
    # partition number of both to one replica (its co-partitioned assignment).
    specs = {s.name: s for s in Topics.from_settings(Settings(topic_partitions=7)).specs()}
    topics = Topics(prefix=Settings().topic_prefix, partitions=7)
    assert specs[topics.responses].partitions == specs[topics.feedback].partitions == 7
    deployed = yaml.safe_load((ROOT / "deploy/kafka/topics.yaml").read_text())["topics"]
    assert deployed["interactions.responses"]["partitions"] == deployed["feedback"]["partitions"]


def test_deltas_follow_their_request_and_documents_their_tenant_and_id() -> None:
    request = InteractionRequest(tenant="acme", question="q")
    deltas = [InteractionDelta(tenant="acme", request_id=request.event_id, index=i, text="t") for i in range(3)]
    assert {event_key(d) for d in deltas} == {str(request.event_id).encode()}
    upsert = DocumentEvent(tenant="acme", document_id="manual", knowledge_base="kb", text="x")
    delete = DocumentEvent(tenant="acme", document_id="manual", knowledge_base="kb", op=DocumentOp.delete)
    assert event_key(upsert) == event_key(delete) == b"acme/manual"
    assert event_key(DocumentEvent(tenant="other", document_id="manual", knowledge_base="kb", text="x")) != (
        event_key(upsert)
    )


def test_adapter_events_stay_keyed_by_tenant() -> None:
    event = AdapterEvent(
        tenant="acme", action=AdapterAction.promoted, version="acme-v0001", manifest_url="file:///m", checksum="0" * 64
    )
    assert event_key(event) == b"acme"
