"""Decoding for every agent: valid events flow on, invalid ones go to the dead-letter topic with the reason."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from prometheus_client import Counter

from kaizen.events import Event
from kaizen.streaming.codec import InvalidEvent, dead_letter, decode
from kaizen.streaming.headers import event_headers
from services.app import KaizenApp

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)

DEAD_LETTERS = Counter(
    "kaizen_dead_letters_total", "Events sent to the dead-letter topic", ["service", "topic", "error_type"]
)


def _dlq_topic(app: KaizenApp) -> Any:
    topic = getattr(app, "_kaizen_dlq", None)
    if topic is None:
        topic = app.topic(app.topics_.dead_letters, value_serializer="raw", key_serializer="raw")
        app._kaizen_dlq = topic  # type: ignore[attr-defined]
    return topic


async def send_dead_letter(
    app: KaizenApp, raw: bytes | None, error: Exception, *, service: str, message: Any = None
) -> None:
    letter = dead_letter(
        raw,
        topic=getattr(message, "topic", "") or "",
        partition=getattr(message, "partition", -1),
        offset=getattr(message, "offset", -1),
        error=error,
        service=service,
        key=getattr(message, "key", None),
    )
    log.warning("dead-lettered %s[%s]@%s: %s", letter.topic, letter.partition, letter.offset, letter.error)
    DEAD_LETTERS.labels(service, letter.topic, letter.error_type).inc()
    await _dlq_topic(app).send(value=letter.to_bytes(), key=b"dead-letter", headers=event_headers(letter))


async def validated(stream: Any, model: type[E], *, service: str, app: KaizenApp) -> AsyncIterator[E]:
    """Yield valid events of ``model`` from a raw-bytes stream; nothing invalid is dropped silently."""
    limit = app.settings.max_text_chars
    async for event in stream.events():
        raw = event.value
        try:
            item = decode(raw, model, max_text_chars=limit)
        except InvalidEvent as exc:
            await send_dead_letter(app, raw, exc, service=service, message=event.message)
            continue
        yield item
