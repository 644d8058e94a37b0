"""Producing events: validated before they leave, so a producer bug never reaches a consumer."""

from __future__ import annotations

from types import TracebackType

from aiokafka import AIOKafkaProducer
from kafka import KafkaProducer

from kaizen.config import Settings
from kaizen.events import (
    DocumentEvent,
    Event,
    Feedback,
    InteractionDelta,
    InteractionRequest,
    InteractionResponse,
)
from kaizen.streaming.admin import bootstrap_servers
from kaizen.streaming.headers import event_headers


def encode(event: Event) -> bytes:
    # Round-trip through the model: an event built with model_construct or mutated after creation is re-checked.
    return type(event).model_validate_json(event.model_dump_json()).to_bytes()


def event_key(event: Event) -> bytes:
    """Partition key: what must stay in order shares a key, and nothing else does, so one tenant's load spreads.

    - a request: its session when it names one (a conversation's turns in order), else its own id;
    - a response and its feedback: the response id, the same key on both topics, which have the same partition
      count: the curator's response/feedback join finds both on the same partition number (co-partitioned);
    - a delta: its request id (one answer's pieces in order);
    - a document: tenant and document id (an upsert and a later delete of one document in order);
    - anything else (adapter events, examples): the tenant, as before.
    """
    match event:
        case InteractionRequest(session_id=str(session)) if session:
            return f"{event.tenant}/session/{session}".encode()
        case InteractionRequest():
            return str(event.event_id).encode()
        case InteractionResponse() | Feedback():
            return str(event.response_id).encode()
        case InteractionDelta():
            return str(event.request_id).encode()
        case DocumentEvent():
            return f"{event.tenant}/{event.document_id}".encode()
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
        self._producer.send(topic, value=encode(event), key=key or event_key(event), headers=event_headers(event))

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
        await self._producer.send_and_wait(
            topic, value=encode(event), key=key or event_key(event), headers=event_headers(event)
        )

    async def __aenter__(self) -> AsyncEventProducer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
