"""The gateway's OpenAI-compatible routes against a bus double: chat completions (whole and streamed), models.

The same paths run through the real broker in tests/test_gateway_kafka.py and tests/test_gateway_streaming.py."""

from __future__ import annotations

import json

import httpx
import pytest
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from kaizen.config import Settings
from kaizen.events import (
    InteractionRequest,
    InteractionResponse,
    Mode,
)
from kaizen.gateway.app import create_app
from tests.support.gateway_bus import A, ScriptedBus


async def test_chat_completion_shape_and_ids(gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus) -> None:
    response = await gateway_client.post(
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
    _, request = scripted_bus.sent[0]
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


async def test_chat_completion_failure_is_502_with_the_ids(gateway_settings: Settings) -> None:
    scripted_bus = ScriptedBus(gateway_settings, fail=True)
    app = create_app(gateway_settings, bus=scripted_bus)
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


async def test_a_refused_adapter_pin_is_404_not_a_model_failure(gateway_settings: Settings) -> None:
    scripted_bus = ScriptedBus(gateway_settings, fail=True, error_code="adapter_not_found")
    app = create_app(gateway_settings, bus=scripted_bus)
    transport = httpx.ASGITransport(app=app)
    body = {"model": "kaizen", "messages": [{"role": "user", "content": "q"}], "kaizen": {"adapter": "beta-v0001"}}
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        response = await http.post("/v1/chat/completions", json=body, headers=A)
        streamed = await http.post("/v1/chat/completions", json=body | {"stream": True}, headers=A)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "adapter_not_found"
    assert '"code": "adapter_not_found"' in streamed.text and "not_found_error" in streamed.text


async def test_chat_completion_timeout_is_504(gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus) -> None:
    scripted_bus.hold = True
    response = await gateway_client.post(
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
async def test_bad_chat_bodies(gateway_client: httpx.AsyncClient, body: dict[str, object], field: str) -> None:
    response = await gateway_client.post("/v1/chat/completions", json=body, headers=A)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


async def test_streaming_chat_completion_sends_sse_chunks(gateway_client: httpx.AsyncClient) -> None:
    body = {
        "model": "kaizen",
        "messages": [{"role": "user", "content": "Stream me"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with gateway_client.stream("POST", "/v1/chat/completions", json=body, headers=A) as response:
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


async def test_unknown_model_is_404_model_not_found(
    gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus
) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "q"}]}
    response = await gateway_client.post("/v1/chat/completions", json=body, headers=A)
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == ("model_not_found", "model", "invalid_request_error")
    assert scripted_bus.sent == []
    assert (await gateway_client.get("/v1/models/gpt-4o", headers=A)).status_code == 404


async def test_models_list_and_retrieve(gateway_client: httpx.AsyncClient) -> None:
    listed = (await gateway_client.get("/v1/models", headers=A)).json()["data"]
    models = [Model.model_validate(m) for m in listed]
    assert "kaizen-rag" in {m.id for m in models}
    one = await gateway_client.get("/v1/models/kaizen-rag", headers=A)
    assert one.status_code == 200 and Model.model_validate(one.json()).id == "kaizen-rag"


async def test_kaizen_stream_relays_deltas_then_the_response(
    gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus
) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    async with gateway_client.stream(
        "POST", "/v1/interactions/stream", json={"question": "Stream me"}, headers=A
    ) as response:
        assert response.status_code == 200
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    _, request = scripted_bus.sent[0]
    assert isinstance(request, InteractionRequest) and request.stream
    names = [n for n, _ in events]
    assert names[0] == "accepted" and names[-1] == "response" and set(names[1:-1]) == {"delta"}
    # Two pieces streamed, one repeated delivery dropped, the rest of the answer from the response.
    assert [d["text"] for n, d in events if n == "delta"] == ["answer", " to", " Stream me"]
    final = events[-1][1]["response"]
    assert isinstance(final, dict) and final["answer"] == "answer to Stream me"
    assert events[0][1]["request_id"] == str(request.event_id)


async def test_openai_stream_relays_deltas(gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus) -> None:
    body = {"model": "kaizen", "messages": [{"role": "user", "content": "Stream me"}], "stream": True}
    async with gateway_client.stream("POST", "/v1/chat/completions", json=body, headers=A) as response:
        lines = [line async for line in response.aiter_lines() if line.startswith("data: {")]
    chunks = [ChatCompletionChunk.model_validate_json(line.removeprefix("data: ")) for line in lines]
    assert [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content] == [
        "answer",
        " to",
        " Stream me",
    ]
    assert all(c.usage is None for c in chunks) and not any("usage" in line for line in lines)


async def test_chat_messages_become_system_and_history(
    gateway_client: httpx.AsyncClient, scripted_bus: ScriptedBus
) -> None:
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "What is parental leave?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Paid time off after a birth."}]},
        {"role": "tool", "content": "ignored"},
        {"role": "user", "content": "And how long does it last?"},
    ]
    body = {"model": "kaizen", "messages": messages, "kaizen": {"session_id": "s-1"}}
    assert (await gateway_client.post("/v1/chat/completions", json=body, headers=A)).status_code == 200
    _, request = scripted_bus.sent[0]
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
