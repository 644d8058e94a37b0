"""Every serving replica reads the whole adapter topic itself (no consumer group): each must hot-swap."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer

from kaizen.config import Settings
from kaizen.events import AdapterEvent
from kaizen.registry.rollout import AdapterRollout
from kaizen.serving.feed import assigned_consumer
from kaizen.streaming.codec import InvalidEvent, decode
from kaizen.topics import Topics

log = logging.getLogger(__name__)
CATCH_UP_IDLE_MS = 500


class AdapterFeed:
    """Catches up on the adapter history, then applies each new event as it arrives."""

    def __init__(
        self,
        settings: Settings,
        apply: Callable[[AdapterEvent], Awaitable[bool]],
        *,
        caught_up: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.apply = apply
        self.caught_up = caught_up or asyncio.Event()

    async def run(self) -> None:
        consumer = await assigned_consumer(self.settings, from_start=[Topics.from_settings(self.settings).adapters])
        try:
            for event in AdapterRollout.relevant(await self._history(consumer)):
                await self.apply(event)
            self.caught_up.set()
            async for record in consumer:
                if (event := self._decode(record.value, record.offset)) is not None:
                    await self.apply(event)
        finally:
            await consumer.stop()

    async def _history(self, consumer: AIOKafkaConsumer) -> list[AdapterEvent]:
        # Read until the topic stays quiet: end offsets can be under-reported on Tansu, so they are not trusted.
        history: list[AdapterEvent] = []
        while batches := await consumer.getmany(timeout_ms=CATCH_UP_IDLE_MS):
            for records in batches.values():
                history.extend(e for r in records if (e := self._decode(r.value, r.offset)) is not None)
        return history

    @staticmethod
    def _decode(raw: bytes | None, offset: int) -> AdapterEvent | None:
        try:
            return decode(raw, AdapterEvent)
        except InvalidEvent as exc:
            log.warning("skipped invalid adapter event at offset %s: %s", offset, exc)
            return None
