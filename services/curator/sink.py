"""Where curated examples go: their topics and the dataset store, a whole batch at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from kaizen.config import Settings
from kaizen.curation.records import CurationResult
from kaizen.datasets.store import DatasetStore
from kaizen.streaming.admin import bootstrap_servers
from kaizen.streaming.headers import event_headers, trace_context
from kaizen.streaming.producer import event_key
from kaizen.topics import Topics
from kaizen.tracing import tracer


class ExampleSink:
    """Publishes examples with a producer of its own.

    Faust's producer runs with one record per batch on Tansu (so table changelogs recover completely); examples
    are not a changelog, so they go through a normally batching producer and a batch costs one round trip.
    """

    def __init__(self, settings: Settings, store: DatasetStore) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.store = store
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(self.settings), acks="all", linger_ms=5)
                await producer.start()
                self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def emit(self, results: Sequence[CurationResult]) -> None:
        """Publish and store; returns once both are durable, so the batch's offsets may then be committed."""
        if not results:
            return
        await self.start()
        assert self._producer is not None
        pending = []
        for result in results:
            # In the response's trace (from the gateway through serving), when it came with one.
            traced = (
                tracer().start_as_current_span("curate", context=trace_context({"traceparent": result.traceparent}))
                if result.traceparent
                else contextlib.nullcontext()
            )
            with traced:
                for event, topic in ((result.instruction, self.topics.instructions), (result.raft, self.topics.raft)):
                    if event is not None:
                        sent = self._producer.send(
                            topic, event.to_bytes(), key=event_key(event), headers=event_headers(event)
                        )
                        pending.append(await sent)
        # File appends are blocking I/O: off the loop, once per batch.
        stored = asyncio.to_thread(self.store.append, results)
        await asyncio.gather(stored, *pending)
