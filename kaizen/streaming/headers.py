"""Kafka headers on every event: what it is (content type, event type, schema version) and the W3C trace context
it was produced in, so a consumer can tell an event's kind before decoding it and continue its trace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import propagate
from opentelemetry.context import Context

from kaizen.events import Event

CONTENT_TYPE = "application/json"

Headers = list[tuple[str, bytes]]
# What consumers hand over: aiokafka/kafka-python give a list of pairs, Faust a mapping; values bytes (or text).
HeaderSource = Iterable[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None


def event_headers(event: Event) -> Headers:
    """Headers for ``event``, with the trace context current now (none outside a span)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    headers = [
        ("content-type", CONTENT_TYPE.encode()),
        ("kaizen-event-type", event.kind.encode()),
        ("kaizen-schema-version", str(event.schema_version).encode()),
    ]
    return headers + [(name, value.encode()) for name, value in carrier.items()]


def header_map(headers: HeaderSource) -> dict[str, str]:
    """Kafka headers (a list of pairs, or Faust's mapping) as text, for reading."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return {
        name.lower(): value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
        for name, value in pairs
    }


def trace_context(headers: HeaderSource) -> Context:
    """The trace context an event was produced in (an empty one when it carries none)."""
    return propagate.extract(header_map(headers))


def traceparent(headers: HeaderSource) -> str | None:
    return header_map(headers).get("traceparent")
