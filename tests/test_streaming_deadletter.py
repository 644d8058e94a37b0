"""Invalid events land in the dead-letter topic with a reason while valid ones are processed (real broker)."""

import base64
import json

import httpx
from kafka import KafkaProducer

from kaizen.config import Settings
from kaizen.events import DeadLetter, InteractionResponse
from kaizen.streaming.consumer import read_events
from kaizen.topics import Topics
from tests.support.malformed_events import MALFORMED, valid_request


def test_invalid_events_are_dead_lettered_and_valid_ones_processed(
    kaizen_settings: Settings, run_service: object
) -> None:
    settings = kaizen_settings.with_overrides(max_text_chars=4_000)
    topics = Topics.from_settings(settings)
    with run_service("tests.support.echo_service", settings=settings) as service:  # type: ignore[operator]
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        sent_valid = []
        for i, (name, (raw, _)) in enumerate(MALFORMED.items()):
            valid = valid_request(i)
            sent_valid.append(json.loads(valid)["event_id"])
            producer.send(topics.requests, value=valid, key=b"k")
            producer.send(topics.requests, value=raw, key=name.encode())
        producer.flush()
        producer.close()

        responses = read_events(settings, topics.responses, InteractionResponse, count=len(sent_valid), timeout=60)
        letters = read_events(settings, topics.dead_letters, DeadLetter, count=len(MALFORMED), timeout=60)
        metrics = httpx.get(service.url + "/metrics").text
        assert 'kaizen_dead_letters_total{error_type="json",service="echo"' in metrics

    assert sorted(str(r.request_id) for r in responses) == sorted(sent_valid)
    by_key = {base64.b64decode(letter.original_key).decode(): letter for letter in letters if letter.original_key}
    assert set(by_key) == set(MALFORMED)
    for name, (raw, reason) in MALFORMED.items():
        letter = by_key[name]
        assert reason in letter.error, (name, letter.error)
        assert base64.b64decode(letter.original) == (raw or b"")
        assert letter.topic == topics.requests and letter.offset >= 0 and letter.service == "echo"
