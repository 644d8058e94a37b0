"""Reading events back from a topic (CLI, demo, tests): decoded, with a deadline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

from kafka import KafkaConsumer

from kaizen.config import Settings
from kaizen.events import Event
from kaizen.streaming.admin import bootstrap_servers
from kaizen.streaming.codec import InvalidEvent, decode

E = TypeVar("E", bound=Event)


class EventReader:
    """Reads a topic from the beginning with a fresh consumer group (or a named one to resume)."""

    def __init__(self, settings: Settings, topic: str, model: type[E], *, group: str | None = None) -> None:
        self.model = model
        self._consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers(settings),
            group_id=group or f"reader-{uuid.uuid4().hex[:12]}",
            auto_offset_reset="earliest",
            enable_auto_commit=group is not None,
            consumer_timeout_ms=200,
        )

    def iter(self, *, timeout: float) -> Iterator[E]:
        """Valid events until ``timeout`` seconds pass with nothing new; invalid values are skipped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self._consumer:
                try:
                    yield decode(record.value, self.model)
                except InvalidEvent:
                    continue
                deadline = time.monotonic() + timeout

    def collect(self, *, until: Callable[[list[E]], bool], timeout: float) -> list[E]:
        """Collect events until ``until(collected)`` holds or ``timeout`` seconds pass in total."""
        found: list[E] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(found):
            batch = self._consumer.poll(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    try:
                        found.append(decode(record.value, self.model))
                    except InvalidEvent:
                        continue
        return found

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(
    settings: Settings,
    topic: str,
    model: type[E],
    *,
    count: int | None = None,
    where: Callable[[E], bool] = lambda _: True,
    timeout: float = 30.0,
) -> list[E]:
    """Events of ``topic`` matching ``where``; stops at ``count`` matches or after ``timeout`` seconds."""
    with EventReader(settings, topic, model) as reader:
        found = reader.collect(
            until=lambda got: count is not None and sum(1 for e in got if where(e)) >= count,
            timeout=timeout,
        )
    return [e for e in found if where(e)]
