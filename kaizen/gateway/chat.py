"""``POST /v1/chat/completions`` and ``GET /v1/models``: the OpenAI API over Kaizen's event path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from kaizen.events import InteractionRequest, InteractionResponse
from kaizen.gateway import openai_api as oa
from kaizen.gateway.errors import check_text_limit, error_response, error_type, serving_error
from kaizen.gateway.routes import Tenant, bus_of, settings_of
from kaizen.gateway.store import ResponseStore

router = APIRouter(prefix="/v1")
RESPONSE_ID_HEADER = "X-Kaizen-Response-Id"
REQUEST_ID_HEADER = "X-Kaizen-Request-Id"
KEEPALIVE_SECONDS = 5.0


def _headers(event: InteractionRequest) -> dict[str, str]:
    return {
        RESPONSE_ID_HEADER: str(InteractionResponse.response_id_for(event.event_id)),
        REQUEST_ID_HEADER: str(event.event_id),
    }


async def _submit(request: Request, body: oa.ChatCompletionRequest, tenant: str) -> InteractionRequest:
    check_text_limit(body.model_dump(mode="json"), settings_of(request).max_text_chars)
    bus = bus_of(request)
    event = body.to_event(tenant)
    bus.store.expect(event.event_id, tenant)
    await bus.send(bus.topics.requests, event)
    return event


def _failure(event: InteractionRequest, response: InteractionResponse | None, timeout: float) -> JSONResponse:
    headers = _headers(event)
    if response is None:
        return error_response(
            504,
            f"no response within {timeout:.0f}s; poll GET /v1/interactions/{event.event_id}",
            code="timeout",
            headers=headers,
        )
    status, message, code = serving_error(response)
    return error_response(
        status,
        message,
        code=code,
        headers=headers,
        extra={"kaizen": oa.kaizen_extension(response)},
    )


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: oa.ChatCompletionRequest, tenant: Tenant, request: Request
) -> JSONResponse | StreamingResponse:
    event = await _submit(request, body, tenant)
    timeout = settings_of(request).gateway_wait_seconds
    store = bus_of(request).store
    if body.stream:
        return StreamingResponse(
            _stream(body, event, tenant, store=store, timeout=timeout),
            media_type="text/event-stream",
            headers=_headers(event) | {"Cache-Control": "no-cache"},
        )
    response = await store.wait(event.event_id, tenant, timeout)
    if response is None or response.error:
        return _failure(event, response, timeout)
    return JSONResponse(oa.completion_body(body, response), headers=_headers(event))


async def _stream(
    body: oa.ChatCompletionRequest, event: InteractionRequest, tenant: str, *, store: ResponseStore, timeout: float
) -> AsyncIterator[str]:
    response_id = InteractionResponse.response_id_for(event.event_id)
    # The first chunk goes out at once: the client has the id (for feedback) before the answer exists.
    yield oa.first_chunk(body, response_id)
    waiting = asyncio.ensure_future(store.wait(event.event_id, tenant, timeout))
    try:
        while not waiting.done():
            done, _ = await asyncio.wait({waiting}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield ": waiting\n\n"  # SSE comment: keeps proxies from closing an idle connection
        response = waiting.result()
    finally:
        waiting.cancel()
    if response is None:
        yield oa.sse(
            {"error": {"message": f"no response within {timeout:.0f}s", "type": "api_error", "code": "timeout"}}
        )
        return
    if response.error:
        status, message, code = serving_error(response)
        yield oa.sse({"error": {"message": message, "type": error_type(status), "code": code}})
        return
    for chunk in oa.answer_chunks(body, response):
        yield chunk


@router.get("/models")
async def list_models(tenant: Tenant) -> JSONResponse:
    return JSONResponse(oa.models_body())
