"""The gateway's own routes against a bus double: interactions, feedback, documents, auth, tenants, limits, health.

The same paths run through the real broker in tests/test_gateway_kafka.py; the OpenAI routes: test_gateway_openai.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from kaizen.config import Settings
from kaizen.events import (
    AdapterAction,
    AdapterEvent,
    DocumentEvent,
    Feedback,
    InteractionRequest,
    InteractionResponse,
    Mode,
)
from tests.support.gateway_bus import A, B, ScriptedBus


async def test_submit_then_poll_returns_the_response(
    gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus
) -> None:
    submitted = await gateway_client.post(
        "/v1/interactions", json={"question": "What is Kaizen?", "mode": "rag"}, headers=A
    )
    assert submitted.status_code == 202
    body = submitted.json()
    request_id = uuid.UUID(body["request_id"])
    assert body["response_id"] == str(InteractionResponse.response_id_for(request_id))
    topic, event = scripted_bus.sent[0]
    assert topic == scripted_bus.topics.requests
    assert isinstance(event, InteractionRequest) and event.tenant == "alpha" and event.mode == Mode.rag

    polled = await gateway_client.get(f"/v1/interactions/{request_id}", params={"wait": 2}, headers=A)
    assert polled.status_code == 200
    assert polled.json()["status"] == "done"
    assert polled.json()["response"]["answer"] == "answer to What is Kaizen?"
    # The response id finds it too.
    by_response = await gateway_client.get(f"/v1/interactions/{body['response_id']}", headers=A)
    assert by_response.json()["request_id"] == str(request_id)


async def test_pending_interaction_is_202(gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus) -> None:
    scripted_bus.hold = True
    request_id = (await gateway_client.post("/v1/interactions", json={"question": "q"}, headers=A)).json()["request_id"]
    polled = await gateway_client.get(f"/v1/interactions/{request_id}", headers=A)
    assert polled.status_code == 202 and polled.json()["status"] == "pending"


async def test_tenant_cannot_read_or_rate_another_tenants_interaction(
    gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus
) -> None:
    scripted_bus.hold = True
    pending = (await gateway_client.post("/v1/interactions", json={"question": "secret"}, headers=A)).json()
    assert (await gateway_client.get(f"/v1/interactions/{pending['request_id']}", headers=B)).status_code == 404
    scripted_bus.answer(scripted_bus.sent[-1][1])  # type: ignore[arg-type]
    for any_id in (pending["request_id"], pending["response_id"]):
        assert (await gateway_client.get(f"/v1/interactions/{any_id}", headers=B)).status_code == 404
        assert (await gateway_client.get(f"/v1/interactions/{any_id}", headers=A)).status_code == 200
    feedback = await gateway_client.post(
        "/v1/feedback", json={"response_id": pending["response_id"], "thumbs": "up"}, headers=B
    )
    assert feedback.status_code == 404
    assert not any(isinstance(e, Feedback) for _, e in scripted_bus.sent)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dG9rZW4tYQ=="}, {"Authorization": "token-a"}],
)
async def test_requests_without_a_valid_token_are_401(
    gateway_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await gateway_client.post("/v1/interactions", json={"question": "q"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "question"),
        ({"question": ""}, "question"),
        ({"question": "   "}, "question"),
        ({"question": "q", "mode": "telepathy"}, "mode"),
        ({"question": "q", "options": {"max_new_tokens": 0}}, "options.max_new_tokens"),
        ({"question": "q", "knowledge_bases": ["bad name!"]}, "knowledge_bases.0"),
        ({"question": "q", "tenant": "beta"}, "tenant"),
        ({"question": "x" * 1001}, "question"),
    ],
)
async def test_bad_interaction_bodies_name_the_field(
    gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus, body: dict[str, object], field: str
) -> None:
    response = await gateway_client.post("/v1/interactions", json=body, headers=A)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field
    assert field.split(".")[0] in response.json()["error"]["message"]
    assert scripted_bus.sent == []


async def test_body_that_is_not_json_is_400(gateway_client: httpx.AsyncClient) -> None:
    response = await gateway_client.post(
        "/v1/interactions", content=b"{not json", headers=A | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "json_invalid"


async def test_oversized_body_is_413_with_or_without_content_length(
    gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus
) -> None:
    big = json.dumps({"question": "x" * 5000}).encode()
    response = await gateway_client.post(
        "/v1/interactions", content=big, headers=A | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    streamed = await gateway_client.post(
        "/v1/interactions", content=chunks(), headers=A | {"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert scripted_bus.sent == []


async def test_feedback_and_documents_are_produced_with_the_token_tenant(
    gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus
) -> None:
    response_id = str(uuid.uuid4())
    fb = await gateway_client.post(
        "/v1/feedback", json={"response_id": response_id, "rating": 4, "correction": "Paris"}, headers=B
    )
    assert fb.status_code == 202
    doc = await gateway_client.post(
        "/v1/documents", json={"document_id": "d1", "knowledge_base": "handbook", "text": "Hello."}, headers=B
    )
    assert doc.status_code == 202
    (t1, feedback), (t2, document) = scripted_bus.sent
    assert t1 == scripted_bus.topics.feedback and isinstance(feedback, Feedback)
    assert feedback.tenant == "beta" and feedback.rating == 4 and str(feedback.response_id) == response_id
    assert t2 == scripted_bus.topics.documents and isinstance(document, DocumentEvent) and document.tenant == "beta"
    assert fb.json()["event_id"] == str(feedback.event_id)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/feedback", {"response_id": "not-a-uuid"}, "response_id"),
        ("/v1/feedback", {"response_id": str(uuid.uuid4()), "rating": 9}, "rating"),
        ("/v1/documents", {"document_id": "d", "knowledge_base": "kb"}, "text"),
        ("/v1/documents", {"document_id": "d", "knowledge_base": "kb", "text": "t", "op": "burn"}, "op"),
    ],
)
async def test_bad_feedback_and_document_bodies(
    gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus, path: str, body: dict[str, object], field: str
) -> None:
    response = await gateway_client.post(path, json=body, headers=A)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field
    assert scripted_bus.sent == []


async def test_health_and_metrics(gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus) -> None:
    assert (await gateway_client.get("/healthz")).json() == {"service": "gateway", "ready": True}
    await gateway_client.post("/v1/interactions", json={"question": "q"}, headers=A)
    await asyncio.sleep(0.05)
    metrics = (await gateway_client.get("/metrics")).text
    assert 'kaizen_interactions_total{adapter="v1",status="ok",strategy="direct"} 1.0' in metrics
    assert 'kaizen_gateway_http_requests_total{method="POST",route="/v1/interactions",status="202"} 1.0' in metrics
    assert "kaizen_interaction_latency_seconds_bucket" in metrics
    scripted_bus.state.on_adapter(
        AdapterEvent(
            tenant="alpha", action=AdapterAction.promoted, version="a1", manifest_url="file:///a1", checksum="a" * 64
        )
    )
    metrics = (await gateway_client.get("/metrics")).text
    assert 'kaizen_active_adapter{role="active",tenant="alpha",version="a1"} 1.0' in metrics


async def test_duplicate_responses_are_stored_once(gateway_settings: Settings) -> None:
    scripted_bus = ScriptedBus(gateway_settings)
    request = InteractionRequest(tenant="alpha", question="q")
    scripted_bus.answer(request)
    scripted_bus.answer(request)
    assert len(scripted_bus.store) == 1
