"""The gateway's link to Kafka: produce events, and tail responses, adapter events and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from kaizen.config import Settings
from kaizen.events import (
    AdapterEvent,
    DeadLetter,
    Event,
    InteractionDelta,
    InteractionRequest,
    InteractionResponse,
)
from kaizen.gateway.store import ResponseStore
from kaizen.registry.rollout import AdapterRollout
from kaizen.serving.feed import assigned_consumer
from kaizen.serving.metrics import ServingMetrics
from kaizen.streaming.codec import InvalidEvent, decode
from kaizen.streaming.producer import AsyncEventProducer
from kaizen.topics import Topics

log = logging.getLogger(__name__)
ADAPTER_EVENTS_KEPT = 1000


class ObservedState:
    """What the gateway learns by reading topics: responses go to the store; adapters and dead letters to metrics.
    Shared by the Kafka bus and test doubles."""

    def __init__(self, store: ResponseStore, metrics: ServingMetrics) -> None:
        self.store = store
        self.metrics = metrics
        # The same state machine serving runs, fed the same events: the metrics show what serving serves.
        self.rollout = AdapterRollout()
        # The adapter topic as this gateway read it (the console shows each tenant its own).
        self.adapter_events: deque[AdapterEvent] = deque(maxlen=ADAPTER_EVENTS_KEPT)
        metrics.set_adapters(self.rollout)

    def on_response(self, response: InteractionResponse) -> None:
        if self.store.put(response):
            self.metrics.observe_response(response)
            self.metrics.observe_trace_batches(response)

    def on_delta(self, delta: InteractionDelta) -> None:
        self.store.put_delta(delta)

    def on_adapter(self, event: AdapterEvent) -> None:
        self.adapter_events.append(event)
        try:
            self.rollout.apply(event)
        except ValueError as exc:  # a version announced for a second tenant: serving refuses it too
            log.warning("ignored adapter event %s: %s", event.event_id, exc)
            return
        self.metrics.set_adapters(self.rollout)

    def on_dead_letter(self, letter: DeadLetter) -> None:
        self.metrics.observe_dead_letter(letter)


class Bus(Protocol):
    """What the HTTP layer needs; a test double implements it for orchestration tests."""

    topics: Topics
    store: ResponseStore
    state: ObservedState

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, topic: str, event: Event) -> None: ...


class KafkaBus:
    """Tails topics by direct partition assignment (no consumer group): every gateway replica sees every response,
    and there is no rebalance to wait for before the first request can be answered."""

    def __init__(self, settings: Settings, state: ObservedState) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.state = state
        self.store = state.store
        self._producer: AsyncEventProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._replayed_until: dict[int, int] = {}

    @property
    def ready(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        # aiokafka binds to the running loop: create the producer inside it.
        self._producer = AsyncEventProducer(self.settings)
        await self._producer.start()
        topics = self.topics
        # The adapter history is small and says which adapter is active now; of the rest only what is new matters.
        # The latest requests and responses are read again at start (the broker is durable), so that a restarted
        # gateway still answers GET /v1/interactions/{id} for them, and waits for those still being answered.
        # Requests accepted by another gateway replica are followed the same way.
        live = [topics.response_deltas, topics.dead_letters]
        self._consumer = await assigned_consumer(
            self.settings,
            from_start=[topics.adapters],
            from_end=live,
            from_tail=[topics.responses, topics.requests],
            tail_records=self.store.capacity,
        )
        parts = [tp for tp in self._consumer.assignment() if tp.topic == topics.responses]
        self._replayed_until = {tp.partition: end for tp, end in (await self._consumer.end_offsets(parts)).items()}
        self._task = asyncio.create_task(self._tail(self._consumer), name="gateway-tail")

    async def _tail(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            try:
                self._dispatch(record)
            except Exception:  # one bad record must not stop the gateway hearing responses
                log.exception("gateway could not handle %s@%s", record.topic, record.offset)

    def _dispatch(self, record: ConsumerRecord) -> None:
        topics = self.topics
        try:
            if record.topic == topics.response_deltas:
                self.state.on_delta(decode(record.value, InteractionDelta))
            elif record.topic == topics.responses:
                response = decode(record.value, InteractionResponse)
                if record.offset < self._replayed_until.get(record.partition, 0):
                    self.store.put(response)  # answered before this gateway started: kept for GET, not counted
                else:
                    self.state.on_response(response)
            elif record.topic == topics.requests:
                request = decode(record.value, InteractionRequest)
                if self.store.get(request.event_id, request.tenant) is None:
                    self.store.expect(request.event_id, request.tenant)
            elif record.topic == topics.adapters:
                self.state.on_adapter(decode(record.value, AdapterEvent))
            elif record.topic == topics.dead_letters:
                self.state.on_dead_letter(decode(record.value, DeadLetter))
        except InvalidEvent as exc:
            # Invalid events on these topics are their producers' to dead-letter; the gateway only reads them.
            log.warning("ignored invalid event on %s@%s: %s", record.topic, record.offset, exc)

    async def send(self, topic: str, event: Event) -> None:
        if self._producer is None:
            raise RuntimeError("the gateway bus is not started")
        await self._producer.send(topic, event)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
