"""What the curator keeps between events and reports about each feedback event."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import Feedback, InstructionExample, InteractionResponse, RaftExample, UtcDatetime

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "kaizen:curation")


def derived_id(kind: str, feedback_id: uuid.UUID) -> uuid.UUID:
    """The same feedback event always yields the same ids: replays produce identical datasets."""
    return uuid.uuid5(_NAMESPACE, f"{kind}:{feedback_id}")


class StoredResponse(BaseModel):
    """A response with its personal data already scrubbed: the only form in which it is ever stored."""

    model_config = ConfigDict(frozen=True)

    response: InteractionResponse
    pii_counts: dict[str, int] = Field(default_factory=dict)
    # Guessed once when the response is stored, not again for every feedback event about it.
    question_language: str | None = None
    answer_language: str | None = None
    traceparent: str | None = Field(None, description="W3C trace context of the response event: its examples' too.")


class PendingFeedback(BaseModel):
    """Feedback that arrived before its response, waiting until ``deadline``."""

    model_config = ConfigDict(frozen=True)

    feedback: list[Feedback]
    deadline: UtcDatetime


class Outcome(StrEnum):
    example = "example"
    pending = "pending"
    rejected = "rejected"
    skipped = "skipped"
    dead_letter = "dead_letter"


class RejectionRecord(BaseModel):
    """A feedback event that produced no example, and why: counted in the dataset manifest."""

    model_config = ConfigDict(frozen=True)

    feedback_id: uuid.UUID
    response_id: uuid.UUID
    tenant: str
    reason: str
    created_at: datetime


class CurationResult(BaseModel):
    """Everything one feedback event led to."""

    model_config = ConfigDict(frozen=True)

    feedback_id: uuid.UUID
    outcome: Outcome
    instruction: InstructionExample | None = None
    raft: RaftExample | None = None
    rejection: RejectionRecord | None = None
    pii_counts: dict[str, int] = Field(default_factory=dict)
    reason: str = ""
    feedback: Feedback | None = Field(None, description="Set for dead letters: the event to keep.")
    traceparent: str | None = Field(None, description="The response's trace: the examples are published in it.")
