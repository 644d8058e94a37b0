"""Kill -9 the durable embedded broker and the curator mid-stream, start both again: nothing lost, nothing twice."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from kaizen.config import Settings
from kaizen.datasets.store import DatasetStore
from kaizen.events import Citation, Feedback, InteractionResponse, Thumbs
from kaizen.streaming.broker import EmbeddedBroker
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics
from tests.fixtures.broker import SHARED_MODELS_DIR

pytestmark = pytest.mark.timeout(420)


def _response(i: int) -> InteractionResponse:
    request_id = uuid.uuid5(uuid.NAMESPACE_URL, f"restart-test/{i}")
    return InteractionResponse(
        tenant="acme",
        request_id=request_id,
        response_id=InteractionResponse.response_id_for(request_id),
        question=f"Which gate of Quillmoor is number {i}?",
        answer=f"Gate number {i} is the river gate.",
        strategy="rag",
        citations=[Citation(document_id="d", chunk_id="d#0", knowledge_base="kb", quote=f"gate {i} is the river")],
        retrieved_chunk_ids=["d#0"],
    )


def _example_ids(bootstrap: str, topic: str, want: int, timeout: float = 90) -> list[str]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ids: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(set(ids)) < want:
            for records in consumer.poll(timeout_ms=300).values():
                ids.extend(json.loads(r.value)["example_id"] for r in records)
        return ids
    finally:
        consumer.close()


def test_curation_survives_kill_9_of_the_broker_and_the_curator(tmp_path: Path, run_service: Callable) -> None:
    base = Settings(
        data_dir=tmp_path / "data",
        models_dir=SHARED_MODELS_DIR,
        topic_prefix="rst",
        topic_partitions=2,
        feedback_wait_seconds=30.0,
    )
    responses = [_response(i) for i in range(8)]
    early = [Feedback(tenant="acme", response_id=r.response_id, rating=5) for r in responses[:4]]
    late = [Feedback(tenant="acme", response_id=r.response_id, thumbs=Thumbs.up) for r in responses[4:]]

    broker = EmbeddedBroker(base, log_path=tmp_path / "broker.log").start()
    settings = base.with_overrides(kafka_bootstrap=broker.bootstrap, broker_kind="tansu")
    topics = Topics.from_settings(settings)
    with run_service("services.curator", settings=settings) as curator, EventProducer(settings) as producer:
        producer.send_many(topics.responses, responses)  # every response, but only half of the feedback yet
        producer.send_many(topics.feedback, early)
        assert len(set(_example_ids(broker.bootstrap, topics.instructions, 4))) == 4
        # Mid-stream: the curator holds 4 responses still waiting for feedback, only in its table (and changelog).
        os.kill(curator.proc.pid, signal.SIGKILL)
        assert broker.pid is not None and broker.store is not None and broker.store.pid is not None
        os.kill(broker.pid, signal.SIGKILL)
        os.kill(broker.store.pid, signal.SIGKILL)
        broker.stop()

    broker = EmbeddedBroker(base, log_path=tmp_path / "broker.log").start()
    try:
        settings = base.with_overrides(kafka_bootstrap=broker.bootstrap, broker_kind="tansu")
        with run_service("services.curator", settings=settings), EventProducer(settings) as producer:
            producer.send_many(topics.feedback, late)  # joins only if the curator's table came back
            ids = _example_ids(broker.bootstrap, topics.instructions, 8)
    finally:
        broker.stop()
    assert len(set(ids)) == 8, f"examples after the restart: {len(set(ids))} of 8"
    snapshot = DatasetStore.from_settings(settings).snapshot("acme")
    assert snapshot.counts.instructions == 8 and snapshot.counts.feedback == 8  # each curated exactly once
