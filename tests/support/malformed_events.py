"""Malformed events of many kinds, each with a phrase its dead letter's reason must contain (tests and bench)."""

from __future__ import annotations

import json
import uuid

from kaizen.events import InteractionRequest


def valid_request(i: int) -> bytes:
    return InteractionRequest(question=f"valid question {i}", user_id="u").to_bytes()


def _with(**changes: object) -> bytes:
    data = json.loads(valid_request(0))
    data.update(changes)
    data["event_id"] = str(uuid.uuid4())
    return json.dumps(data).encode()


def _without(field: str) -> bytes:
    data = json.loads(valid_request(0))
    del data[field]
    return json.dumps(data).encode()


MALFORMED: dict[str, tuple[bytes | None, str]] = {
    "bad json": (b'{"question": "unterminated', "not valid JSON"),
    "not utf-8": (b"\xff\xfe\x00garbage", "not valid JSON"),
    "not an object": (b'["a", "list"]', "expected a JSON object"),
    "wrong type": (_with(question=12345), "question"),
    "missing field": (_without("question"), "question: Field required"),
    "unknown mode": (_with(mode="telepathy"), "mode"),
    "oversized text": (_with(question="x" * 5_000), "exceeds the limit"),
    "wrong schema version": (_with(schema_version=7), "schema_version"),
    "unknown field beside a bad one": (_with(priority="high", mode="telepathy"), "mode"),
    "naive timestamp": (_with(created_at="2026-01-01T00:00:00"), "timezone"),
    "bad tenant": (_with(tenant="NOT A TENANT!"), "tenant"),
    "blank question": (_with(question="   "), "blank"),
    "null value": (None, "empty value"),
}
