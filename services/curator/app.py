"""The curator service: responses and feedback in, instruction and RAFT examples out (wiring only)."""

from __future__ import annotations

import contextlib
from typing import Any

from kaizen.config import Settings
from kaizen.curation.pipeline import Curator, CuratorConfig
from kaizen.datasets.store import DatasetStore
from kaizen.retrieval.factory import make_store
from kaizen.retrieval.store import VectorStore
from services.app import KaizenApp, make_app
from services.curator.sink import ExampleSink
from services.curator.tables import TableMapping, make_table
from services.curator.worker import CuratorWorker

# Large batches amortise the per-batch round trip (publish + store); curation tolerates a quarter second.
BATCH = 5000
BATCH_WITHIN_S = 0.25


def _chunk_store(settings: Settings) -> VectorStore:
    """The knowledge-base store, for RAFT chunk texts and distractors.

    Opened even where no knowledge base exists yet: the curator usually starts before the first ingestion, and
    the store looks tables up on every read, so chunks indexed later are found.
    """
    # The curator only reads chunks; the dimension matters only to a store creating a table.
    return make_store(settings, dimension=0)


def build_app(settings: Settings | None = None, *, config: CuratorConfig | None = None) -> KaizenApp:
    settings = settings or Settings()
    app = make_app("curator", settings)
    topics = app.topics_
    responses = make_table(app, "curator-responses", partitions=settings.topic_partitions)
    pending = make_table(app, "curator-pending-feedback", partitions=settings.topic_partitions)
    chunks = _chunk_store(settings)
    curator = Curator(
        config or CuratorConfig.from_settings(settings),
        responses=TableMapping(responses),
        pending=TableMapping(pending),
        lookup=chunks,
        distractor_source=chunks,
    )
    sink = ExampleSink(settings, DatasetStore.from_settings(settings))
    worker = CuratorWorker(app, curator, sink)
    app.curator_worker = worker  # type: ignore[attr-defined]

    @app.agent(app.topic(topics.responses, value_serializer="raw", key_serializer="raw"))
    async def on_responses(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_WITHIN_S):
            await worker.on_responses(events)

    @app.agent(app.topic(topics.feedback, value_serializer="raw", key_serializer="raw"))
    async def on_feedback(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_WITHIN_S):
            await worker.on_feedback(events)

    @app.timer(interval=max(0.5, min(10.0, settings.feedback_wait_seconds / 4)))
    async def expire_waiting_feedback() -> None:
        await worker.expire()

    @app.task
    async def _drop_monitor() -> None:
        # Faust's Monitor sensor keeps per-event timing state that nothing here reads (health and metrics are
        # our own); measured on this machine it halves how fast events reach the agents.
        with contextlib.suppress(KeyError):
            app.sensors.remove(app.monitor)

    @app.on_before_shutdown.connect
    async def _close(sender: Any, **kwargs: Any) -> None:
        await sink.stop()

    return app
