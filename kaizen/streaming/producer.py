"""Producing events: validated before they leave, so a producer bug never reaches a consumer."""

from __future__ import annotations

from types import TracebackType

from aiokafka import AIOKafkaProducer
from kafka import KafkaProducer

from kaizen.config import Settings
from kaizen.events import Event
from kaizen.streaming.admin import bootstrap_servers


def encode(event: Event) -> bytes:
    # Round-trip through the model: an event built with model_construct or mutated after creation is re-checked.
    return type(event).model_validate_json(event.model_dump_json()).to_bytes()


def event_key(event: Event) -> bytes:
    """Partition key: the tenant, so one tenant's events keep their order on one partition."""
    return event.tenant.encode()


class EventProducer:
    """Synchronous producer for apps, scripts and flows (kafka-python; CRC32C in C via ``crc32c``)."""

    def __init__(self, settings: Settings, **config: object) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers(settings),
            acks="all",
            linger_ms=5,
            **config,
        )

    def send(self, topic: str, event: Event, *, key: bytes | None = None) -> None:
        self._producer.send(topic, value=encode(event), key=key or event_key(event))

    def send_many(self, topic: str, events: list[Event]) -> None:
        for event in events:
            self.send(topic, event)
        self.flush()

    def flush(self, timeout: float | None = 30.0) -> None:
        self._producer.flush(timeout=timeout)

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncEventProducer:
    """asyncio producer for services that are not Faust agents (the gateway)."""

    def __init__(self, settings: Settings) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(settings), acks="all", linger_ms=2)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, topic: str, event: Event, *, key: bytes | None = None) -> None:
        await self._producer.send_and_wait(topic, value=encode(event), key=key or event_key(event))

    async def __aenter__(self) -> AsyncEventProducer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
