"""Kaizen's own endpoints: interactions (submit, poll, stream), feedback, documents."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from kaizen.config import Settings
from kaizen.events import InteractionRequest, InteractionResponse
from kaizen.gateway.auth import require_tenant
from kaizen.gateway.bus import Bus
from kaizen.gateway.errors import check_text_limit
from kaizen.gateway.schemas import (
    Accepted,
    DocumentBody,
    FeedbackBody,
    InteractionAccepted,
    InteractionBody,
    InteractionStatus,
)

router = APIRouter(prefix="/v1")
Tenant = Annotated[str, Depends(require_tenant)]
# An SSE comment after this long without a delta keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 5.0


def bus_of(request: Request) -> Bus:
    return request.app.state.bus


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def _status(response: InteractionResponse) -> InteractionStatus:
    return InteractionStatus(
        status="error" if response.error else "done",
        request_id=response.request_id,
        response_id=response.response_id,
        response=response,
    )


@router.post("/interactions", status_code=status.HTTP_202_ACCEPTED, response_model=InteractionAccepted)
async def submit_interaction(
    body: InteractionBody, tenant: Tenant, request: Request, response: Response
) -> InteractionAccepted:
    check_text_limit(body.model_dump(mode="json"), settings_of(request).max_text_chars)
    bus = bus_of(request)
    event = body.to_event(tenant)
    bus.store.expect(event.event_id, tenant)
    await bus.send(bus.topics.requests, event)
    response.headers["Location"] = f"/v1/interactions/{event.event_id}"
    return InteractionAccepted.for_request(event)


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


@router.post("/interactions/stream", response_class=StreamingResponse)
async def stream_interaction(body: InteractionBody, tenant: Tenant, request: Request) -> StreamingResponse:
    """The answer as server-sent events while it is decoded: ``accepted`` (the ids), ``delta`` (``{"text"}``,
    pieces that join to the answer), then ``response`` (what ``GET /v1/interactions/{id}`` returns) or ``error``."""
    check_text_limit(body.model_dump(mode="json"), settings_of(request).max_text_chars)
    bus = bus_of(request)
    event = body.to_event(tenant).model_copy(update={"stream": True})
    bus.store.expect(event.event_id, tenant)
    bus.store.follow_deltas(event.event_id, tenant)
    await bus.send(bus.topics.requests, event)
    timeout = settings_of(request).gateway_wait_seconds
    headers = {"Cache-Control": "no-cache", "Location": f"/v1/interactions/{event.event_id}"}
    return StreamingResponse(_relay(bus, event, timeout), media_type="text/event-stream", headers=headers)


async def _relay(bus: Bus, event: InteractionRequest, timeout: float) -> AsyncIterator[str]:
    yield _event("accepted", InteractionAccepted.for_request(event).model_dump(mode="json"))
    sent = ""
    async for item in bus.store.follow(event.event_id, event.tenant, timeout, keepalive=KEEPALIVE_SECONDS):
        if isinstance(item, str):
            sent += item
            yield _event("delta", {"text": item})
        elif item is None:
            yield ": waiting\n\n"
        else:
            # What the deltas did not say (a strategy that does not stream, a lost delta), so they join to the answer.
            if item.answer.startswith(sent) and len(item.answer) > len(sent):
                yield _event("delta", {"text": item.answer[len(sent) :]})
            yield _event("response", _status(item).model_dump(mode="json"))
            return
    yield _event("error", {"message": f"no response within {timeout:.0f}s", "code": "timeout"})


@router.get("/interactions/{interaction_id}", response_model=InteractionStatus)
async def get_interaction(
    interaction_id: uuid.UUID,
    tenant: Tenant,
    request: Request,
    response: Response,
    wait: Annotated[float, Query(ge=0, description="Seconds to wait for the response if it is not ready.")] = 0,
) -> InteractionStatus:
    """By request id (or response id). Another tenant's id is indistinguishable from an unknown one: 404."""
    bus = bus_of(request)
    store = bus.store
    if (found := store.get(interaction_id, tenant)) is not None:
        return _status(found)
    if not store.is_pending(interaction_id, tenant):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=(
                f"no interaction {interaction_id}: unknown, or older than the {store.capacity} latest responses "
                "this gateway keeps (KAIZEN_GATEWAY_STORE_SIZE)"
            ),
        )
    if wait > 0:
        timeout = min(wait, settings_of(request).gateway_wait_seconds)
        if (found := await store.wait(interaction_id, tenant, timeout)) is not None:
            return _status(found)
    response.status_code = status.HTTP_202_ACCEPTED
    return InteractionStatus(
        status="pending",
        request_id=interaction_id,
        response_id=InteractionResponse.response_id_for(interaction_id),
    )


@router.post("/feedback", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def submit_feedback(body: FeedbackBody, tenant: Tenant, request: Request) -> Accepted:
    check_text_limit(body.model_dump(mode="json"), settings_of(request).max_text_chars)
    bus = bus_of(request)
    owner = bus.store.owner(body.response_id)
    if owner is not None and owner != tenant:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no response {body.response_id}")
    event = body.to_event(tenant)
    await bus.send(bus.topics.feedback, event)
    return Accepted(event_id=event.event_id)


@router.post("/documents", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def submit_document(body: DocumentBody, tenant: Tenant, request: Request) -> Accepted:
    check_text_limit(body.model_dump(mode="json"), settings_of(request).max_text_chars)
    event = body.to_event(tenant)
    bus = bus_of(request)
    await bus.send(bus.topics.documents, event)
    return Accepted(event_id=event.event_id)
