"""Reading a topic back from its beginning, for tests that check what a service published."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition

from kaizen.config import Settings


def read_all(
    settings: Settings, topic: str, *, until: Callable[[list[bytes]], bool], timeout: float = 60
) -> list[bytes]:
    """Every value on ``topic`` from the start, once ``until`` holds (or the timeout passes)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        values: list[bytes] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                values.extend(r.value for r in records)
            if until(values):
                break
        return values
    finally:
        consumer.close()
