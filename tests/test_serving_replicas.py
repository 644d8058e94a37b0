"""Two serving replicas in one consumer group share one tenant's load through the real broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kaizen.config import Settings
from kaizen.events import InteractionRequest, InteractionResponse, Mode
from kaizen.streaming.admin import ensure_topics
from kaizen.streaming.consumer import EventReader
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics
from tests.fixtures.broker import ServiceProcess

PARTITIONS = 4
REQUESTS = 40


def _owned(service: ServiceProcess, topic: str) -> set[int]:
    body = httpx.get(service.url + "/healthz", timeout=2).json()
    return set(body.get("assignment", {}).get(topic, []))


def _wait_split(replicas: list[ServiceProcess], topic: str, timeout: float = 60) -> list[set[int]]:
    """Until the group has settled: every replica owns some partitions, none twice, all of them owned."""
    deadline = time.monotonic() + timeout
    while True:
        owned = [_owned(r, topic) for r in replicas]
        disjoint = sum(len(o) for o in owned) == len(set().union(*owned))
        if all(owned) and disjoint and set().union(*owned) == set(range(PARTITIONS)):
            return owned
        assert time.monotonic() < deadline, f"the group never split {topic}: {owned}"
        time.sleep(0.25)


def _answered(service: ServiceProcess) -> float:
    text = httpx.get(service.url + "/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "kaizen_interactions"
        for sample in family.samples
        if sample.name == "kaizen_interactions_total"
    )


def test_two_replicas_share_one_tenants_requests_and_answer_each_exactly_once(
    kaizen_settings: Settings, run_service: Callable[..., object]
) -> None:
    settings = kaizen_settings.with_overrides(topic_prefix=f"r{uuid.uuid4().hex[:10]}", topic_partitions=PARTITIONS)
    ensure_topics(settings)
    topics = Topics.from_settings(settings)
    module = "tests.support.scripted_serving_service"
    with run_service(module, settings=settings) as first, run_service(module, settings=settings) as second:  # type: ignore[attr-defined]
        replicas = [first, second]
        owned = _wait_split(replicas, topics.requests)
        requests = [
            InteractionRequest(tenant="acme", user_id=f"u{i}", question=f"question {i}", mode=Mode.direct)
            for i in range(REQUESTS)
        ]
        with EventProducer(settings) as producer:
            producer.send_many(topics.requests, requests)
        wanted = {r.event_id for r in requests}
        with EventReader(settings, topics.responses, InteractionResponse) as reader:
            responses = reader.collect(until=lambda got: {r.request_id for r in got} >= wanted, timeout=90)
            responses += reader.collect(until=lambda got: False, timeout=2)  # a second answer to any of them?
        answered = [_answered(r) for r in replicas]
        # The group did not change while the requests were answered (a rebalance could re-deliver some).
        assert [_owned(r, topics.requests) for r in replicas] == owned

    assert sorted(r.request_id for r in responses) == sorted(wanted), "every request answered exactly once"
    assert all(r.error is None and r.answer == "scripted answer" for r in responses)
    assert all(n > 0 for n in answered), f"both replicas answer: {answered}"
    assert sum(answered) == REQUESTS
