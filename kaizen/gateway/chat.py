"""``POST /v1/chat/completions`` and ``GET /v1/models``: the OpenAI API over Kaizen's event path."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from kaizen.events import InteractionRequest, InteractionResponse
from kaizen.gateway import openai_api as oa
from kaizen.gateway.errors import check_text_limit, error_response, error_type, serving_error
from kaizen.gateway.routes import KEEPALIVE_SECONDS, Tenant, bus_of, settings_of
from kaizen.gateway.store import ResponseStore

router = APIRouter(prefix="/v1")
RESPONSE_ID_HEADER = "X-Kaizen-Response-Id"
REQUEST_ID_HEADER = "X-Kaizen-Request-Id"
log = logging.getLogger(__name__)


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
    if event.stream:
        bus.store.follow_deltas(event.event_id, tenant)
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
    if body.model not in oa.MODELS:
        return _unknown_model(body.model)
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
    return JSONResponse(oa.completion_body(body, event, response), headers=_headers(event))


async def _stream(
    body: oa.ChatCompletionRequest, event: InteractionRequest, tenant: str, *, store: ResponseStore, timeout: float
) -> AsyncIterator[str]:
    chunks = oa.ChunkStream(body, event)
    # The first chunk goes out at once: the client has the id (for feedback) before the answer exists.
    yield chunks.first()
    async for item in store.follow(event.event_id, tenant, timeout, keepalive=KEEPALIVE_SECONDS):
        if isinstance(item, str):
            yield chunks.delta(item)
        elif item is None:
            yield ": waiting\n\n"  # SSE comment: keeps proxies from closing an idle connection
        elif item.error:
            status, message, code = serving_error(item)
            yield oa.sse({"error": {"message": message, "type": error_type(status), "code": code}})
            return
        else:
            if not item.answer.startswith(chunks.sent):
                log.warning("streamed text of %s is not the start of its answer", event.event_id)
            for chunk in chunks.finish(item):
                yield chunk
            return
    message = f"no response within {timeout:.0f}s"
    yield oa.sse({"error": {"message": message, "type": "api_error", "code": "timeout"}})


def _unknown_model(model: str) -> JSONResponse:
    return error_response(
        404,
        f"The model {model!r} does not exist; GET /v1/models lists them",
        param="model",
        code="model_not_found",
        type="invalid_request_error",
    )


@router.get("/models")
async def list_models(tenant: Tenant) -> JSONResponse:
    return JSONResponse(oa.models_body())


@router.get("/models/{model}")
async def get_model(model: str, tenant: Tenant) -> JSONResponse:
    return JSONResponse(oa.model_body(model)) if model in oa.MODELS else _unknown_model(model)
