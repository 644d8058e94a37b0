"""Two serving replicas in one consumer group share one tenant's load through the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from kaizen.config import Settings
from kaizen.events import InteractionRequest, InteractionResponse, Mode
from kaizen.streaming.admin import ensure_topics
from kaizen.streaming.consumer import EventReader
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics
from tests.support.replicas import answered, owned, wait_split

PARTITIONS = 4
REQUESTS = 40


def test_two_replicas_share_one_tenants_requests_and_answer_each_exactly_once(
    kaizen_settings: Settings, run_service: Callable[..., object]
) -> None:
    settings = kaizen_settings.with_overrides(topic_prefix=f"r{uuid.uuid4().hex[:10]}", topic_partitions=PARTITIONS)
    ensure_topics(settings)
    topics = Topics.from_settings(settings)
    module = "tests.support.scripted_serving_service"
    with run_service(module, settings=settings) as first, run_service(module, settings=settings) as second:  # type: ignore[attr-defined]
        urls = [first.url, second.url]
        split = wait_split(urls, topics.requests, PARTITIONS)
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
        per_replica = [answered(url) for url in urls]
        # The group did not change while the requests were answered (a rebalance could re-deliver some).
        assert [owned(url, topics.requests) for url in urls] == split

    assert sorted(r.request_id for r in responses) == sorted(wanted), "every request answered exactly once"
    assert all(r.error is None and r.answer == "scripted answer" for r in responses)
    assert all(n > 0 for n in per_replica), f"both replicas answer: {per_replica}"
    assert sum(per_replica) == REQUESTS
