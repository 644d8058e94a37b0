"""OpenAI chat logs: one ``{"messages": [...]}`` per line (the chat fine-tuning format, and what most apps log).

The last assistant message is the answer, the user message before it the question, earlier turns the history.
Optional keys beside ``messages``: ``id``, ``user``, ``session_id``, ``created_at`` (or ``created``) and
``feedback`` (an object of thumbs / rating / correction / comment / labels, or a list of them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kaizen.importing.flat import json_lines
from kaizen.importing.records import ImportedFeedback, ImportedInteraction, Parsed
from kaizen.importing.shapes import (
    Conversation,
    ShapeError,
    content_key,
    describe,
    messages_of,
    parse_time,
    rating_of,
    thumbs_of,
)


def _feedback(value: Any, user: str | None) -> list[ImportedFeedback]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    out = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ShapeError(f"feedback {n} is not an object")
        labels = item.get("labels") or []
        fb = ImportedFeedback(
            key=str(item.get("id") or n),
            thumbs=thumbs_of(item.get("thumbs")),
            rating=rating_of(item.get("rating")),
            correction=item.get("correction") or None,
            comment=item.get("comment") or None,
            labels=[labels] if isinstance(labels, str) else labels,
            user_id=item.get("user_id") or user,
            created_at=parse_time(item.get("created_at")),
        )
        if not fb.empty:
            out.append(fb)
    return out


def interaction_of(raw: Any, where: str) -> ImportedInteraction:
    if not isinstance(raw, dict):
        raise ShapeError(f"not an object: {type(raw).__name__}")
    messages = messages_of(raw.get("messages"))
    if messages is None:
        raise ShapeError("no messages: expected a non-empty list of {role, content}")
    chat = Conversation(messages)
    user = raw.get("user") or raw.get("user_id")
    return ImportedInteraction(
        key=str(raw["id"]) if raw.get("id") else content_key(raw),
        where=where,
        question=chat.question,
        answer=chat.answer,
        system=chat.system,
        history=chat.history,
        user_id=str(user) if user else None,
        session_id=raw.get("session_id"),
        created_at=parse_time(raw.get("created_at", raw.get("created"))),
        feedback=_feedback(raw.get("feedback"), str(user) if user else None),
    )


def parse_openai_chat(path: Path) -> Parsed:
    parsed = Parsed()
    for where, value in json_lines(path):
        if isinstance(value, ShapeError):
            parsed.skip(where, str(value))
            continue
        try:
            parsed.interactions.append(interaction_of(value, where))
        except (ShapeError, ValidationError) as exc:
            parsed.skip(where, f"invalid: {describe(exc)}")
    return parsed
