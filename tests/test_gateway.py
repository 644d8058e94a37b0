"""The gateway's HTTP layer against a bus double: auth, tenants, limits, bodies, the OpenAI shapes.

The same paths run through the real broker in tests/test_gateway_kafka.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

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
from kaizen.gateway.app import create_app
from tests.support.gateway_bus import ScriptedBus

TOKENS = {"token-a": "alpha", "token-b": "beta"}
A = {"Authorization": "Bearer token-a"}
B = {"Authorization": "Bearer token-b"}


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        data_dir=tmp_path,
        api_tokens=TOKENS,
        max_request_bytes=4096,
        max_text_chars=1000,
        gateway_wait_seconds=2.0,
        topic_prefix="gw",
    )


@pytest.fixture
def bus(settings: Settings) -> ScriptedBus:
    return ScriptedBus(settings)


@pytest.fixture
async def client(settings: Settings, bus: ScriptedBus) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, bus=bus)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            yield http


async def test_submit_then_poll_returns_the_response(client: httpx.AsyncClient, bus: ScriptedBus) -> None:
    submitted = await client.post("/v1/interactions", json={"question": "What is Kaizen?", "mode": "rag"}, headers=A)
    assert submitted.status_code == 202
    body = submitted.json()
    request_id = uuid.UUID(body["request_id"])
    assert body["response_id"] == str(InteractionResponse.response_id_for(request_id))
    topic, event = bus.sent[0]
    assert topic == bus.topics.requests
    assert isinstance(event, InteractionRequest) and event.tenant == "alpha" and event.mode == Mode.rag

    polled = await client.get(f"/v1/interactions/{request_id}", params={"wait": 2}, headers=A)
    assert polled.status_code == 200
    assert polled.json()["status"] == "done"
    assert polled.json()["response"]["answer"] == "answer to What is Kaizen?"
    # The response id finds it too.
    by_response = await client.get(f"/v1/interactions/{body['response_id']}", headers=A)
    assert by_response.json()["request_id"] == str(request_id)


async def test_pending_interaction_is_202(client: httpx.AsyncClient, bus: ScriptedBus) -> None:
    bus.hold = True
    request_id = (await client.post("/v1/interactions", json={"question": "q"}, headers=A)).json()["request_id"]
    polled = await client.get(f"/v1/interactions/{request_id}", headers=A)
    assert polled.status_code == 202 and polled.json()["status"] == "pending"


async def test_tenant_cannot_read_or_rate_another_tenants_interaction(
    client: httpx.AsyncClient, bus: ScriptedBus
) -> None:
    bus.hold = True
    pending = (await client.post("/v1/interactions", json={"question": "secret"}, headers=A)).json()
    assert (await client.get(f"/v1/interactions/{pending['request_id']}", headers=B)).status_code == 404
    bus.answer(bus.sent[-1][1])  # type: ignore[arg-type]
    for any_id in (pending["request_id"], pending["response_id"]):
        assert (await client.get(f"/v1/interactions/{any_id}", headers=B)).status_code == 404
        assert (await client.get(f"/v1/interactions/{any_id}", headers=A)).status_code == 200
    feedback = await client.post(
        "/v1/feedback", json={"response_id": pending["response_id"], "thumbs": "up"}, headers=B
    )
    assert feedback.status_code == 404
    assert not any(isinstance(e, Feedback) for _, e in bus.sent)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dG9rZW4tYQ=="}, {"Authorization": "token-a"}],
)
async def test_requests_without_a_valid_token_are_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.post("/v1/interactions", json={"question": "q"}, headers=headers)
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
    client: httpx.AsyncClient, bus: ScriptedBus, body: dict[str, object], field: str
) -> None:
    response = await client.post("/v1/interactions", json=body, headers=A)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field
    assert field.split(".")[0] in response.json()["error"]["message"]
    assert bus.sent == []


async def test_body_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/interactions", content=b"{not json", headers=A | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "json_invalid"


async def test_oversized_body_is_413_with_or_without_content_length(
    client: httpx.AsyncClient, bus: ScriptedBus
) -> None:
    big = json.dumps({"question": "x" * 5000}).encode()
    response = await client.post("/v1/interactions", content=big, headers=A | {"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    streamed = await client.post("/v1/interactions", content=chunks(), headers=A | {"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert bus.sent == []


async def test_feedback_and_documents_are_produced_with_the_token_tenant(
    client: httpx.AsyncClient, bus: ScriptedBus
) -> None:
    response_id = str(uuid.uuid4())
    fb = await client.post(
        "/v1/feedback", json={"response_id": response_id, "rating": 4, "correction": "Paris"}, headers=B
    )
    assert fb.status_code == 202
    doc = await client.post(
        "/v1/documents", json={"document_id": "d1", "knowledge_base": "handbook", "text": "Hello."}, headers=B
    )
    assert doc.status_code == 202
    (t1, feedback), (t2, document) = bus.sent
    assert t1 == bus.topics.feedback and isinstance(feedback, Feedback)
    assert feedback.tenant == "beta" and feedback.rating == 4 and str(feedback.response_id) == response_id
    assert t2 == bus.topics.documents and isinstance(document, DocumentEvent) and document.tenant == "beta"
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
    client: httpx.AsyncClient, bus: ScriptedBus, path: str, body: dict[str, object], field: str
) -> None:
    response = await client.post(path, json=body, headers=A)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field
    assert bus.sent == []


async def test_chat_completion_shape_and_ids(client: httpx.AsyncClient, bus: ScriptedBus) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={
            "model": "kaizen-rag",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Why?"}],
            "max_tokens": 32,
            "user": "u1",
            "presence_penalty": 0.5,
            "kaizen": {"knowledge_bases": ["handbook"]},
        },
        headers=A,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    _, request = bus.sent[0]
    assert isinstance(request, InteractionRequest)
    assert request.question == "Why?" and request.mode == Mode.rag and request.knowledge_bases == ["handbook"]
    assert request.system == "be brief" and request.history == []
    assert request.options.max_new_tokens == 32 and request.user_id == "u1"
    response_id = str(InteractionResponse.response_id_for(request.event_id))
    assert body["id"] == response_id == response.headers["x-kaizen-response-id"]
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "answer to Why?", "refusal": None}
    assert body["kaizen"]["adapter_version"] == "v1"
    completion = ChatCompletion.model_validate(body)
    assert completion.created == int(request.created_at.timestamp())
    assert completion.usage is not None and completion.choices[0].finish_reason == "stop"


async def test_chat_completion_failure_is_502_with_the_ids(settings: Settings) -> None:
    bus = ScriptedBus(settings, fail=True)
    app = create_app(settings, bus=bus)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        response = await http.post(
            "/v1/chat/completions",
            json={"model": "kaizen", "messages": [{"role": "user", "content": "q"}]},
            headers=A,
        )
    assert response.status_code == 502
    assert "model exploded" in response.json()["error"]["message"]
    assert response.headers["x-kaizen-response-id"]


async def test_a_refused_adapter_pin_is_404_not_a_model_failure(settings: Settings) -> None:
    bus = ScriptedBus(settings, fail=True, error_code="adapter_not_found")
    app = create_app(settings, bus=bus)
    transport = httpx.ASGITransport(app=app)
    body = {"model": "kaizen", "messages": [{"role": "user", "content": "q"}], "kaizen": {"adapter": "beta-v0001"}}
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        response = await http.post("/v1/chat/completions", json=body, headers=A)
        streamed = await http.post("/v1/chat/completions", json=body | {"stream": True}, headers=A)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "adapter_not_found"
    assert '"code": "adapter_not_found"' in streamed.text and "not_found_error" in streamed.text


async def test_chat_completion_timeout_is_504(client: httpx.AsyncClient, bus: ScriptedBus) -> None:
    bus.hold = True
    response = await client.post(
        "/v1/chat/completions", json={"model": "kaizen", "messages": [{"role": "user", "content": "q"}]}, headers=A
    )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timeout"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "kaizen", "messages": []}, "messages"),
        ({"model": "kaizen", "messages": [{"role": "system", "content": "only system"}]}, "messages"),
        ({"model": "kaizen", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"model": "kaizen", "messages": [{"role": "user", "content": "q"}], "n": 2}, "n"),
        ({"model": "kaizen", "messages": [{"role": "user", "content": "q"}], "kaizen": {"mood": 1}}, "kaizen.mood"),
    ],
)
async def test_bad_chat_bodies(client: httpx.AsyncClient, body: dict[str, object], field: str) -> None:
    response = await client.post("/v1/chat/completions", json=body, headers=A)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


async def test_streaming_chat_completion_sends_sse_chunks(client: httpx.AsyncClient) -> None:
    body = {
        "model": "kaizen",
        "messages": [{"role": "user", "content": "Stream me"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=A) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "answer to Stream me"
    assert {c["id"] for c in chunks} == {response.headers["x-kaizen-response-id"]}
    parsed = [ChatCompletionChunk.model_validate(c) for c in chunks]
    assert len({c.created for c in parsed}) == 1
    # include_usage: every chunk says usage null, one last chunk without choices carries the totals.
    assert all(c.usage is None for c in parsed[:-1]) and parsed[-1].choices == []
    assert parsed[-1].usage is not None and parsed[-1].usage.total_tokens == parsed[-1].usage.prompt_tokens + (
        parsed[-1].usage.completion_tokens
    )
    assert [c.choices[0].finish_reason for c in parsed[:-1]][-1] == "stop"


async def test_unknown_model_is_404_model_not_found(client: httpx.AsyncClient, bus: ScriptedBus) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "q"}]}
    response = await client.post("/v1/chat/completions", json=body, headers=A)
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == ("model_not_found", "model", "invalid_request_error")
    assert bus.sent == []
    assert (await client.get("/v1/models/gpt-4o", headers=A)).status_code == 404


async def test_models_list_and_retrieve(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/models", headers=A)).json()["data"]
    models = [Model.model_validate(m) for m in listed]
    assert "kaizen-rag" in {m.id for m in models}
    one = await client.get("/v1/models/kaizen-rag", headers=A)
    assert one.status_code == 200 and Model.model_validate(one.json()).id == "kaizen-rag"


async def test_health_and_metrics(client: httpx.AsyncClient, bus: ScriptedBus) -> None:
    assert (await client.get("/healthz")).json() == {"service": "gateway", "ready": True}
    await client.post("/v1/interactions", json={"question": "q"}, headers=A)
    await asyncio.sleep(0.05)
    metrics = (await client.get("/metrics")).text
    assert 'kaizen_interactions_total{adapter="v1",status="ok",strategy="direct"} 1.0' in metrics
    assert 'kaizen_gateway_http_requests_total{method="POST",route="/v1/interactions",status="202"} 1.0' in metrics
    assert "kaizen_interaction_latency_seconds_bucket" in metrics
    bus.state.on_adapter(
        AdapterEvent(
            tenant="alpha", action=AdapterAction.promoted, version="a1", manifest_url="file:///a1", checksum="a" * 64
        )
    )
    metrics = (await client.get("/metrics")).text
    assert 'kaizen_active_adapter{role="active",tenant="alpha",version="a1"} 1.0' in metrics


async def test_duplicate_responses_are_stored_once(settings: Settings) -> None:
    bus = ScriptedBus(settings)
    request = InteractionRequest(tenant="alpha", question="q")
    bus.answer(request)
    bus.answer(request)
    assert len(bus.store) == 1


async def test_kaizen_stream_relays_deltas_then_the_response(client: httpx.AsyncClient, bus: ScriptedBus) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    async with client.stream("POST", "/v1/interactions/stream", json={"question": "Stream me"}, headers=A) as response:
        assert response.status_code == 200
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    _, request = bus.sent[0]
    assert isinstance(request, InteractionRequest) and request.stream
    names = [n for n, _ in events]
    assert names[0] == "accepted" and names[-1] == "response" and set(names[1:-1]) == {"delta"}
    # Two pieces streamed, one repeated delivery dropped, the rest of the answer from the response.
    assert [d["text"] for n, d in events if n == "delta"] == ["answer", " to", " Stream me"]
    final = events[-1][1]["response"]
    assert isinstance(final, dict) and final["answer"] == "answer to Stream me"
    assert events[0][1]["request_id"] == str(request.event_id)


async def test_openai_stream_relays_deltas(client: httpx.AsyncClient, bus: ScriptedBus) -> None:
    body = {"model": "kaizen", "messages": [{"role": "user", "content": "Stream me"}], "stream": True}
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=A) as response:
        lines = [line async for line in response.aiter_lines() if line.startswith("data: {")]
    chunks = [ChatCompletionChunk.model_validate_json(line.removeprefix("data: ")) for line in lines]
    assert [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content] == [
        "answer",
        " to",
        " Stream me",
    ]
    assert all(c.usage is None for c in chunks) and not any("usage" in line for line in lines)


async def test_chat_messages_become_system_and_history(client: httpx.AsyncClient, bus: ScriptedBus) -> None:
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "What is parental leave?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Paid time off after a birth."}]},
        {"role": "tool", "content": "ignored"},
        {"role": "user", "content": "And how long does it last?"},
    ]
    body = {"model": "kaizen", "messages": messages, "kaizen": {"session_id": "s-1"}}
    assert (await client.post("/v1/chat/completions", json=body, headers=A)).status_code == 200
    _, request = bus.sent[0]
    assert isinstance(request, InteractionRequest)
    assert (request.question, request.system, request.session_id) == (
        "And how long does it last?",
        "Answer in French.",
        "s-1",
    )
    assert [(t.role, t.content) for t in request.history] == [
        ("user", "What is parental leave?"),
        ("assistant", "Paid time off after a birth."),
    ]
