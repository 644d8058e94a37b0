"""Decoding of wire bytes into events: the one place where bad input is recognised and explained.

Consumers are tolerant and producers strict (``schemas/README.md``): a field this code does not know is one a newer
producer added within the same major ``schema_version``, so it is dropped and counted, never a reason to refuse.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any, TypeVar

from prometheus_client import Counter
from pydantic import ValidationError

from kaizen.events import SCHEMA_VERSION, DeadLetter, Event

E = TypeVar("E", bound=Event)
log = logging.getLogger(__name__)

UNKNOWN_FIELDS = Counter(
    "kaizen_event_unknown_fields_total",
    "Fields a consumer did not know and ignored (a newer producer's), per event type and field",
    ["event_type", "field"],
)


class InvalidEvent(ValueError):
    """Bytes that are not a valid event of the expected kind; ``reason`` says why in one line."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"{where}: {item['msg']}")
    more = len(error.errors()) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _longest_text(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((_longest_text(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((_longest_text(v) for v in value), default=0)
    return 0


def decode(raw: bytes | str | None, model: type[E], *, max_text_chars: int | None = None) -> E:
    """Parse and validate one value, or raise ``InvalidEvent`` naming the problem."""
    if raw is None:
        raise InvalidEvent("empty value (tombstone or null)", "empty")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"not valid JSON: {exc}", "json") from exc
    if not isinstance(data, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(data).__name__}", "shape")
    if max_text_chars is not None and (longest := _longest_text(data)) > max_text_chars:
        raise InvalidEvent(f"text field of {longest} chars exceeds the limit of {max_text_chars}", "oversized")
    version = data.get("schema_version")
    if version is not None and version != SCHEMA_VERSION:
        raise InvalidEvent(
            f"unsupported schema_version {version!r} (this service reads {SCHEMA_VERSION})", "schema_version"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        unknown = [item["loc"] for item in exc.errors() if item["type"] == "extra_forbidden"]
        if not unknown:
            raise InvalidEvent(f"invalid {model.kind}: {_describe(exc)}", "validation") from exc
    # The models forbid extras so that producers stay strict; here the unknown fields are dropped and counted.
    for loc in unknown:
        _drop(data, loc)
        field = ".".join(str(p) for p in loc if not isinstance(p, int))
        UNKNOWN_FIELDS.labels(model.kind, field).inc()
    log.debug("ignored unknown fields of %s: %s", model.kind, unknown)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {model.kind}: {_describe(exc)}", "validation") from exc


def _drop(data: Any, loc: tuple[str | int, ...]) -> None:
    for part in loc[:-1]:
        data = data[part]
    del data[loc[-1]]


def dead_letter(
    raw: bytes | str | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    error: InvalidEvent | Exception,
    service: str,
    key: bytes | None = None,
    tenant: str = "default",
) -> DeadLetter:
    """Wrap the original bytes with the reason, so nothing is lost and it can be replayed once fixed."""
    payload = raw.encode() if isinstance(raw, str) else (raw or b"")
    return DeadLetter(
        tenant=tenant,
        original=base64.b64encode(payload).decode(),
        original_key=base64.b64encode(key).decode() if key else None,
        topic=topic,
        partition=partition,
        offset=offset,
        error=str(error)[:4000],
        error_type=getattr(error, "error_type", type(error).__name__),
        service=service,
    )


def original_bytes(letter: DeadLetter) -> bytes:
    return base64.b64decode(letter.original)
