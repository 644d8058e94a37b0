"""Imported interactions as the events live traffic makes, with ids fixed by the record: a second import of the
same file produces the same events, which the curator and the dataset snapshot already treat as duplicates."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from kaizen.events import Feedback, InteractionRequest, InteractionResponse, Mode
from kaizen.importing.records import ImportedInteraction, ImportFormat

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "kaizen:import")


def request_id_for(tenant: str, fmt: ImportFormat, key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{tenant}\x00{fmt.value}\x00{key}")


def feedback_id_for(request_id: uuid.UUID, key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{request_id}\x00feedback\x00{key}")


class ImportedEvents(BaseModel):
    model_config = ConfigDict(frozen=True)

    request: InteractionRequest
    response: InteractionResponse
    feedback: list[Feedback]


def to_events(item: ImportedInteraction, *, tenant: str, fmt: ImportFormat, dated: datetime) -> ImportedEvents:
    """The request, response and feedback of one record; pydantic's ValidationError says what is not valid.

    ``dated`` dates records that carry no time of their own; it must be the same on every import of the file.
    """
    request_id = request_id_for(tenant, fmt, item.key)
    at = item.created_at or dated
    user = item.user_id or "imported"
    request = InteractionRequest(
        event_id=request_id,
        created_at=at,
        tenant=tenant,
        user_id=user,
        session_id=item.session_id,
        question=item.question,
        system=item.system,
        history=item.history,
        mode=Mode.direct,
    )
    response = InteractionResponse(
        event_id=InteractionResponse.response_id_for(request_id),
        created_at=at,
        tenant=tenant,
        request_id=request_id,
        response_id=InteractionResponse.response_id_for(request_id),
        user_id=user,
        question=item.question,
        mode=Mode.direct,
        strategy=f"import:{fmt.value}",
        answer=item.answer,
    )
    feedback = [
        Feedback(
            event_id=feedback_id_for(request_id, fb.key),
            created_at=fb.created_at or at,
            tenant=tenant,
            response_id=response.response_id,
            user_id=fb.user_id or user,
            thumbs=fb.thumbs,
            rating=fb.rating,
            correction=fb.correction,
            comment=fb.comment,
            labels=fb.labels,
        )
        for fb in item.feedback
    ]
    return ImportedEvents(request=request, response=response, feedback=feedback)
