"""The gateway process through the real broker, answered by a real Faust service (tests/support/echo_service)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from kaizen.config import Settings
from kaizen.events import DocumentEvent, Feedback
from kaizen.streaming.consumer import read_events
from kaizen.topics import Topics
from tests.fixtures.broker import ServiceProcess
from tests.support.serving import AUTH_A, AUTH_B, TOKENS, gateway_process


@pytest.fixture
def settings(kaizen_settings: Settings) -> Settings:
    return kaizen_settings.with_overrides(api_tokens=TOKENS, gateway_wait_seconds=60.0)


@pytest.fixture
def gateway(settings: Settings, run_service: Callable[..., object], tmp_path: Path) -> Iterator[ServiceProcess]:
    with run_service("tests.support.echo_service", settings=settings), gateway_process(settings, tmp_path) as gw:  # type: ignore[attr-defined]
        yield gw


def test_interaction_round_trip_and_tenant_isolation(gateway: ServiceProcess) -> None:
    with httpx.Client(base_url=gateway.url, timeout=70) as http:
        submitted = http.post("/v1/interactions", json={"question": "hello kafka"}, headers=AUTH_A)
        assert submitted.status_code == 202, submitted.text
        request_id = submitted.json()["request_id"]
        done = http.get(f"/v1/interactions/{request_id}", params={"wait": 60}, headers=AUTH_A)
        assert done.status_code == 200, done.text
        assert done.json()["response"]["answer"] == "HELLO KAFKA"
        assert done.json()["response"]["tenant"] == "alpha"
        assert http.get(f"/v1/interactions/{request_id}", headers=AUTH_B).status_code == 404
        assert http.get(f"/v1/interactions/{uuid.uuid4()}", headers=AUTH_A).status_code == 404
        metrics = http.get("/metrics").text
    assert 'kaizen_interactions_total{adapter="base",status="ok",strategy="direct"} 1.0' in metrics


def test_openai_client_unchanged(gateway: ServiceProcess) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="token-a", max_retries=0, timeout=70)
    completion = client.chat.completions.create(model="kaizen", messages=[{"role": "user", "content": "shout this"}])
    assert completion.choices[0].message.content == "SHOUT THIS"
    uuid.UUID(completion.id)  # the Kaizen response id, usable for feedback

    stream = client.chat.completions.create(
        model="kaizen", messages=[{"role": "user", "content": "stream it please"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "STREAM IT PLEASE"
    assert len({c.id for c in chunks}) == 1

    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway.url + "/v1", api_key="wrong", max_retries=0).chat.completions.create(
            model="kaizen", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="kaizen", messages=[])
    with pytest.raises(openai.NotFoundError, match="gpt-4o"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert client.models.retrieve("kaizen-rag").id == "kaizen-rag"
    assert "kaizen" in {m.id for m in client.models.list()}


def test_feedback_and_documents_reach_their_topics(gateway: ServiceProcess, settings: Settings) -> None:
    topics = Topics.from_settings(settings)
    response_id = str(uuid.uuid4())
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        assert (
            http.post("/v1/feedback", json={"response_id": response_id, "thumbs": "down"}, headers=AUTH_B).status_code
            == 202
        )
        doc = {"document_id": "doc-1", "knowledge_base": "handbook", "title": "T", "text": "Some text."}
        assert http.post("/v1/documents", json=doc, headers=AUTH_B).status_code == 202
        bad = http.post("/v1/documents", json=doc | {"knowledge_base": "no spaces allowed"}, headers=AUTH_B)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "knowledge_base"
    feedback = read_events(settings, topics.feedback, Feedback, count=1, timeout=60)
    documents = read_events(settings, topics.documents, DocumentEvent, count=1, timeout=60)
    assert [(str(f.response_id), f.tenant, f.thumbs) for f in feedback] == [(response_id, "beta", "down")]
    assert [(d.document_id, d.tenant) for d in documents] == [("doc-1", "beta")]


def test_gateway_is_ready_quickly_and_survives_invalid_responses(gateway: ServiceProcess, settings: Settings) -> None:
    from kafka import KafkaProducer

    topics = Topics.from_settings(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send(topics.responses, value=b"not an event")
    producer.flush()
    producer.close()
    time.sleep(0.5)
    with httpx.Client(base_url=gateway.url, timeout=70) as http:
        assert http.get("/healthz").status_code == 200
        request_id = http.post("/v1/interactions", json={"question": "still here"}, headers=AUTH_A).json()["request_id"]
        assert (
            http.get(f"/v1/interactions/{request_id}", params={"wait": 60}, headers=AUTH_A).json()["status"] == "done"
        )


def test_a_restarted_gateway_still_answers_for_earlier_responses(
    settings: Settings, run_service: Callable[..., object], tmp_path: Path
) -> None:
    # Accepted while nothing serves, by a gateway that is then stopped: the next gateway knows it is pending.
    with gateway_process(settings, tmp_path) as gw, httpx.Client(base_url=gw.url, timeout=70) as http:
        later = http.post("/v1/interactions", json={"question": "later"}, headers=AUTH_A).json()["request_id"]
    with run_service("tests.support.echo_service", settings=settings):  # type: ignore[attr-defined]
        with gateway_process(settings, tmp_path) as gw, httpx.Client(base_url=gw.url, timeout=70) as http:
            waited = http.get(f"/v1/interactions/{later}", params={"wait": 60}, headers=AUTH_A)
            assert waited.status_code == 200 and waited.json()["response"]["answer"] == "LATER", waited.text
            before = http.post("/v1/interactions", json={"question": "before"}, headers=AUTH_A).json()["request_id"]
            done = http.get(f"/v1/interactions/{before}", params={"wait": 60}, headers=AUTH_A)
            assert done.status_code == 200, done.text
        with gateway_process(settings, tmp_path) as gw, httpx.Client(base_url=gw.url, timeout=70) as http:
            again = http.get(f"/v1/interactions/{before}", headers=AUTH_A)
            assert again.status_code == 200 and again.json()["response"]["answer"] == "BEFORE"
            assert http.get(f"/v1/interactions/{before}", headers=AUTH_B).status_code == 404
            unknown = http.get(f"/v1/interactions/{uuid.uuid4()}", headers=AUTH_A)
            assert unknown.status_code == 404 and "latest responses" in unknown.json()["error"]["message"]
            metrics = http.get("/metrics").text
    # Read again for GET, not counted again as traffic of this gateway.
    assert 'kaizen_interactions_total{adapter="base",status="ok"' not in metrics
