"""Decoding: consumers ignore (and count) fields a newer producer added; producers stay strict."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from kaizen.events import InteractionRequest, InteractionResponse
from kaizen.streaming.codec import InvalidEvent, decode
from kaizen.streaming.producer import encode


def _unknown(event_type: str, field: str) -> float:
    labels = {"event_type": event_type, "field": field}
    return REGISTRY.get_sample_value("kaizen_event_unknown_fields_total", labels) or 0.0


def test_unknown_fields_are_ignored_and_counted_per_event_type_and_field() -> None:
    request = InteractionRequest(question="How long is the warranty?", user_id="u")
    data = json.loads(request.to_bytes())
    data["priority"] = "high"
    data["options"]["beam_width"] = 4
    before = (_unknown("interaction_request", "priority"), _unknown("interaction_request", "options.beam_width"))
    decoded = decode(json.dumps(data).encode(), InteractionRequest)
    assert decoded == request
    after = (_unknown("interaction_request", "priority"), _unknown("interaction_request", "options.beam_width"))
    assert after == (before[0] + 1, before[1] + 1)


def test_unknown_fields_inside_lists_are_ignored() -> None:
    response = InteractionResponse(
        request_id=InteractionRequest(question="q").event_id,
        response_id=InteractionResponse.response_id_for(InteractionRequest(question="q").event_id),
        citations=[{"document_id": "d", "chunk_id": "d#0", "knowledge_base": "kb"}],  # type: ignore[list-item]
    )
    data = json.loads(response.to_bytes())
    data["citations"][0]["page"] = 3
    assert decode(json.dumps(data), InteractionResponse) == response
    assert _unknown("interaction_response", "citations.page") >= 1


def test_what_is_invalid_for_the_consumer_is_still_refused_beside_unknown_fields() -> None:
    data = json.loads(InteractionRequest(question="q").to_bytes())
    data |= {"priority": "high", "mode": "telepathy"}
    with pytest.raises(InvalidEvent) as refused:
        decode(json.dumps(data), InteractionRequest)
    assert "mode" in refused.value.reason and "priority" not in refused.value.reason
    data = json.loads(InteractionRequest(question="q").to_bytes()) | {"schema_version": 2, "new_field": 1}
    with pytest.raises(InvalidEvent, match="schema_version"):
        decode(json.dumps(data), InteractionRequest)


def test_producers_stay_strict() -> None:
    with pytest.raises(ValidationError, match="priority"):
        InteractionRequest(question="q", priority="high")  # type: ignore[call-arg]
    # An event built without validation is checked again on its way out.
    with pytest.raises(ValidationError, match="question"):
        encode(InteractionRequest.model_construct(question=""))
