"""Invalid events land in the dead-letter topic with a reason while valid ones are processed (real broker)."""

import base64
import json
import uuid

import httpx
from kafka import KafkaProducer

from kaizen.config import Settings
from kaizen.events import DeadLetter, InteractionRequest, InteractionResponse
from kaizen.streaming.consumer import read_events
from kaizen.topics import Topics


def _valid(i: int) -> bytes:
    return InteractionRequest(question=f"valid question {i}", user_id="u").to_bytes()


def _with(**changes: object) -> bytes:
    data = json.loads(_valid(0))
    data.update(changes)
    data["event_id"] = str(uuid.uuid4())
    return json.dumps(data).encode()


def _without(field: str) -> bytes:
    data = json.loads(_valid(0))
    del data[field]
    return json.dumps(data).encode()


INVALID: dict[str, tuple[bytes | None, str]] = {
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


def test_invalid_events_are_dead_lettered_and_valid_ones_processed(
    kaizen_settings: Settings, run_service: object
) -> None:
    settings = kaizen_settings.with_overrides(max_text_chars=4_000)
    topics = Topics.from_settings(settings)
    with run_service("tests.support.echo_service", settings=settings) as service:  # type: ignore[operator]
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        sent_valid = []
        for i, (name, (raw, _)) in enumerate(INVALID.items()):
            valid = _valid(i)
            sent_valid.append(json.loads(valid)["event_id"])
            producer.send(topics.requests, value=valid, key=b"k")
            producer.send(topics.requests, value=raw, key=name.encode())
        producer.flush()
        producer.close()

        responses = read_events(settings, topics.responses, InteractionResponse, count=len(sent_valid), timeout=60)
        letters = read_events(settings, topics.dead_letters, DeadLetter, count=len(INVALID), timeout=60)
        metrics = httpx.get(service.url + "/metrics").text
        assert 'kaizen_dead_letters_total{error_type="json",service="echo"' in metrics

    assert sorted(str(r.request_id) for r in responses) == sorted(sent_valid)
    by_key = {base64.b64decode(letter.original_key).decode(): letter for letter in letters if letter.original_key}
    assert set(by_key) == set(INVALID)
    for name, (raw, reason) in INVALID.items():
        letter = by_key[name]
        assert reason in letter.error, (name, letter.error)
        assert base64.b64decode(letter.original) == (raw or b"")
        assert letter.topic == topics.requests and letter.offset >= 0 and letter.service == "echo"
