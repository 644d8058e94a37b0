"""Bodies the gateway accepts and returns. The tenant never comes from a body: the bearer token decides it."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import (
    DocumentEvent,
    DocumentOp,
    Feedback,
    InteractionRequest,
    InteractionResponse,
    KbName,
    Mode,
    RequestOptions,
    Text,
    Thumbs,
    Turn,
)


class _Body(BaseModel):
    # Unknown fields are refused by name rather than ignored: a misspelt option must not silently do nothing.
    model_config = ConfigDict(extra="forbid")


class InteractionBody(_Body):
    question: Text = Field(min_length=1)
    system: Text | None = None
    history: list[Turn] = Field(default_factory=list, max_length=256, description="Earlier turns, oldest first.")
    mode: Mode = Mode.auto
    knowledge_bases: list[KbName] = Field(default_factory=list, max_length=16)
    options: RequestOptions = Field(default_factory=RequestOptions)
    user_id: str = Field("anonymous", max_length=256)
    session_id: str | None = Field(None, max_length=256)

    def to_event(self, tenant: str) -> InteractionRequest:
        return InteractionRequest(tenant=tenant, **self.model_dump())


class FeedbackBody(_Body):
    response_id: uuid.UUID
    user_id: str = Field("anonymous", max_length=256)
    thumbs: Thumbs | None = None
    rating: int | None = Field(None, ge=1, le=5)
    correction: Text | None = None
    comment: Text | None = None
    labels: list[str] = Field(default_factory=list, max_length=32)
    source_document_ids: list[str] = Field(default_factory=list)

    def to_event(self, tenant: str) -> Feedback:
        return Feedback(tenant=tenant, **self.model_dump())


class DocumentBody(_Body):
    document_id: str = Field(min_length=1, max_length=512)
    knowledge_base: KbName
    op: DocumentOp = DocumentOp.upsert
    title: str = Field("", max_length=1024)
    text: Text = ""
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)

    def to_event(self, tenant: str) -> DocumentEvent:
        return DocumentEvent(tenant=tenant, **self.model_dump())


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    event_id: uuid.UUID


class InteractionAccepted(BaseModel):
    status: Literal["pending"] = "pending"
    request_id: uuid.UUID
    response_id: uuid.UUID = Field(description="The id the response will carry; use it for feedback.")

    @classmethod
    def for_request(cls, request: InteractionRequest) -> InteractionAccepted:
        return cls(
            request_id=request.event_id,
            response_id=InteractionResponse.response_id_for(request.event_id),
        )


class InteractionStatus(BaseModel):
    status: Literal["pending", "done", "error"]
    request_id: uuid.UUID
    response_id: uuid.UUID
    response: InteractionResponse | None = None


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = Field(None, description="The offending field, dotted (OpenAI's name for it).")
    code: str | None = None


class ErrorBody(BaseModel):
    """OpenAI-shaped error, so the ``openai`` client raises with the message intact."""

    error: ErrorDetail
