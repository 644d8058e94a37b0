"""Batch handlers of the curator service: decode, curate with the core, emit; nothing invalid is dropped."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter as Counter_
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

from prometheus_client import Counter

from kaizen.curation.pipeline import Curator
from kaizen.curation.records import CurationResult, Outcome, StoredResponse
from kaizen.events import Event, Feedback, InteractionResponse
from kaizen.streaming.codec import InvalidEvent, decode
from kaizen.streaming.headers import traceparent
from kaizen.streaming.producer import event_key
from services.app import KaizenApp
from services.base import send_dead_letter
from services.curator.sink import ExampleSink
from services.curator.tables import writing_partition

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
SERVICE = "curator"

OUTCOMES = Counter("kaizen_curator_feedback_total", "Feedback events by outcome", ["outcome", "reason"])


class CurationFailed(ValueError):
    """A feedback event that cannot become an example, for the dead-letter topic."""

    error_type = "curation"


class CuratorWorker:
    def __init__(self, app: KaizenApp, curator: Curator, sink: ExampleSink) -> None:
        self.app = app
        self.curator = curator
        self.sink = sink

    async def _decoded(self, events: Sequence[Any], model: type[E]) -> list[tuple[Any, E]]:
        limit = self.app.settings.max_text_chars
        valid: list[tuple[Any, E]] = []
        for event in events:
            item = _fast_decode(event.value, model, limit)
            if item is None:
                # The slower, thorough path names the problem for the dead-letter topic (or accepts the event).
                try:
                    item = decode(event.value, model, max_text_chars=limit)
                except InvalidEvent as exc:
                    await send_dead_letter(self.app, event.value, exc, service=SERVICE, message=event.message)
                    continue
            valid.append((event, item))
        return valid

    async def on_responses(self, events: Sequence[Any]) -> None:
        decoded = await self._decoded(events, InteractionResponse)
        # Scrubbing is the costly part (phone matching): done on a worker thread, the loop keeps heartbeating.
        scrubbed = await asyncio.to_thread(lambda: [self.curator.scrub_response(r) for _, r in decoded])
        results: list[CurationResult] = []
        for (event, _), stored in zip(decoded, scrubbed, strict=True):
            trace = traceparent(event.headers)
            if trace:  # kept with the response, so the examples its feedback leads to continue its trace
                stored = stored.model_copy(update={"traceparent": trace})
            with writing_partition(event.message.partition):
                results.extend(self.curator.store_response(stored))
        await self._emit(results, events)

    async def on_feedback(self, events: Sequence[Any]) -> None:
        ready: list[tuple[StoredResponse, Feedback]] = []
        results: list[CurationResult] = []
        for event, fb in await self._decoded(events, Feedback):
            stored = self.curator.response(str(fb.response_id))
            if stored is not None:
                ready.append((stored, fb))
                continue
            with writing_partition(event.message.partition):  # the wait is a table write
                results.append(self.curator.add_feedback(fb))
        # Curation is CPU work, plus chunk-store reads for RAFT when a store is configured: those go off the
        # loop, one hop per batch; without a store the hop would cost more than it frees.
        if self.curator.raft.reads_store:
            results.extend(await asyncio.to_thread(lambda: [self.curator.curate(s, fb) for s, fb in ready]))
        else:
            results.extend(self.curator.curate(s, fb) for s, fb in ready)
        await self._emit(results, events)

    async def expire(self) -> int:
        expired = self.curator.expire()
        topic = self.app.topics_.feedback
        for fb, reason in expired:
            OUTCOMES.labels("expired", "no_response").inc()
            where = SimpleNamespace(topic=topic, partition=-1, offset=-1, key=event_key(fb))
            await send_dead_letter(self.app, fb.to_bytes(), CurationFailed(reason), service=SERVICE, message=where)
        return len(expired)

    async def _emit(self, results: list[CurationResult], events: Sequence[Any]) -> None:
        # Counted per batch: a labelled metric update per event costs more than the rest of the bookkeeping.
        tally = Counter_((r.outcome.value, r.reason if r.outcome != Outcome.example else "") for r in results)
        for (outcome, reason), n in tally.items():
            OUTCOMES.labels(outcome, reason).inc(n)
        dead = [r for r in results if r.outcome == Outcome.dead_letter]
        by_id = {_feedback_id(event.value): event for event in reversed(events)} if dead else {}
        for result in dead:
            # The original bytes when the event is in this batch; else (it waited for its response) the event.
            event = by_id.get(str(result.feedback_id))
            message = event.message if event is not None else None
            raw = event.value if event is not None else (result.feedback.to_bytes() if result.feedback else b"")
            await send_dead_letter(self.app, raw, CurationFailed(result.reason), service=SERVICE, message=message)
        await self.sink.emit([r for r in results if r.outcome in (Outcome.example, Outcome.rejected, Outcome.skipped)])
        await self._table_writes_sent()

    async def _table_writes_sent(self) -> None:
        """Return once this batch's table writes are on the broker: the batch is acknowledged after this.

        Faust flushes its producer before it commits offsets, but that flush gives up after 0.1 s without a send
        (``ProducerBuffer.flush_atmost``): on a slow broker offsets were committed while table writes were still
        buffered, and a kill -9 then lost them (bench/faults.py: 39 of 60 waiting responses)."""
        producer = self.app.producer
        while producer.buffer.size:
            await asyncio.sleep(0.005)
        await producer.flush()


def _feedback_id(raw: bytes | None) -> str:
    """The event id of a raw feedback value (only on the rare dead-letter path, to keep its original bytes)."""
    try:
        data = json.loads(raw or b"")
    except ValueError:
        return ""
    return str(data.get("event_id", "")) if isinstance(data, dict) else ""


def _fast_decode(raw: bytes | None, model: type[E], limit: int) -> E | None:
    """Parse in one native step (the common, valid case); None sends the event through ``decode``.

    Only values no longer than the text limit take this path: no text inside them can then exceed it.
    """
    if not raw or len(raw) > limit:
        return None
    try:
        return model.model_validate_json(raw)
    except ValueError:
        return None
