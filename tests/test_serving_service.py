"""The serving service through the real broker: requests in, responses out, duplicates, failures, hot swaps.

The scripted-model variant (tests/support/scripted_serving_service.py) runs the very same agents and adapter feed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from kafka import KafkaProducer

from kaizen.config import Settings
from kaizen.events import (
    AdapterAction,
    AdapterEvent,
    DeadLetter,
    InstructionExample,
    InteractionRequest,
    InteractionResponse,
    Mode,
)
from kaizen.streaming.consumer import EventReader, read_events
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics
from tests.fixtures.broker import ServiceProcess

CHECKSUM = "a" * 64


def wait_ready(service: ServiceProcess, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(service.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"serving not ready:\n{service.log_tail()}")


@pytest.fixture
def scripted_serving(kaizen_settings: Settings, run_service: Callable[..., object]) -> Iterator[ServiceProcess]:
    with run_service("tests.support.scripted_serving_service", settings=kaizen_settings) as service:  # type: ignore[attr-defined]
        wait_ready(service)
        yield service


def _request(question: str, **extra: object) -> InteractionRequest:
    return InteractionRequest(question=question, mode=Mode.direct, user_id="u", **extra)


def _adapter(action: AdapterAction, version: str) -> AdapterEvent:
    return AdapterEvent(action=action, version=version, manifest_url=f"file:///r/{version}", checksum=CHECKSUM)


def test_requests_in_responses_out_with_duplicates_failures_and_poison(
    scripted_serving: ServiceProcess, kaizen_settings: Settings
) -> None:
    topics = Topics.from_settings(kaizen_settings)
    good = [_request(f"question {i}") for i in range(4)]
    failing = _request("please FAIL now")
    with EventProducer(kaizen_settings) as producer:
        for request in good:
            producer.send(topics.requests, request)
        producer.send(topics.requests, good[0])  # delivered twice
        producer.send(topics.requests, failing)
    # From a newer producer: fields this service does not know (top level and nested) are ignored, not refused.
    newer = _request("from a newer producer")
    newer_wire = json.loads(newer.to_bytes()) | {"priority": "high"}
    newer_wire["options"]["beam_width"] = 4
    raw = KafkaProducer(bootstrap_servers=kaizen_settings.kafka_bootstrap)
    raw.send(topics.requests, value=b'{"question": 12}', key=b"x")
    raw.send(topics.requests, value=json.dumps(newer_wire).encode(), key=b"newer")
    raw.flush()
    raw.close()

    expected = {r.event_id for r in [*good, failing, newer]}
    with EventReader(kaizen_settings, topics.responses, InteractionResponse) as reader:
        responses = reader.collect(until=lambda got: {r.request_id for r in got} >= expected, timeout=60)
        responses += reader.collect(until=lambda got: False, timeout=2)  # anything extra (a second answer)?
    by_request = {r.request_id: r for r in responses}
    assert set(by_request) == expected
    assert len(responses) == len(expected), "a duplicate request must yield one response"
    for request in good:
        response = by_request[request.event_id]
        assert response.answer == "scripted answer" and response.error is None
        assert response.response_id == InteractionResponse.response_id_for(request.event_id)
    assert "scripted model failure" in (by_request[failing.event_id].error or "")

    assert by_request[newer.event_id].answer == "scripted answer"
    with EventReader(kaizen_settings, topics.dead_letters, DeadLetter) as reader:
        letters = reader.collect(until=lambda got: len(got) >= 1, timeout=30)
        letters += reader.collect(until=lambda got: False, timeout=2)  # the newer producer's must not be here
    assert len(letters) == 1 and letters[0].service == "serving" and "question" in letters[0].error

    metrics = httpx.get(scripted_serving.url + "/metrics", timeout=5).text
    assert "kaizen_interaction_duplicates_total 1.0" in metrics
    assert 'kaizen_interactions_total{adapter="base",status="error",strategy="direct"} 1.0' in metrics
    assert "kaizen_dead_letters_total" in metrics
    for field in ("priority", "options.beam_width"):
        assert f'kaizen_event_unknown_fields_total{{event_type="interaction_request",field="{field}"}} 1.0' in metrics


def test_promoted_adapter_changes_later_responses_without_failures(
    scripted_serving: ServiceProcess, kaizen_settings: Settings
) -> None:
    topics = Topics.from_settings(kaizen_settings)
    sent: list[InteractionRequest] = []
    with EventProducer(kaizen_settings) as producer:
        for step, event in enumerate(
            [
                _adapter(AdapterAction.promoted, "v1"),
                _adapter(AdapterAction.promoted, "bad-v"),
                None,
                _adapter(AdapterAction.promoted, "v2"),
            ]
        ):
            for i in range(6):  # load keeps flowing while adapters change
                request = _request(f"s{step} q{i}")
                producer.send(topics.requests, request)
                sent.append(request)
            producer.flush()
            if event is not None:
                producer.send(topics.adapters, event)
                producer.flush()
            time.sleep(0.5)
        tail = _request("after the last swap")
        deadline = time.monotonic() + 30
        while httpx.get(scripted_serving.url + "/healthz", timeout=2).json()["adapters"]["default"]["promoted"] != "v2":
            assert time.monotonic() < deadline, "v2 never became active"
            time.sleep(0.2)
        producer.send(topics.requests, tail)
    sent.append(tail)
    wanted = {r.event_id for r in sent}
    responses = read_events(
        kaizen_settings,
        topics.responses,
        InteractionResponse,
        where=lambda r: r.request_id in wanted,
        count=len(wanted),
        timeout=60,
    )
    assert {r.request_id for r in responses} == wanted
    assert [r.error for r in responses if r.error] == []
    by_request = {r.request_id: r for r in responses}
    assert by_request[tail.event_id].adapter_version == "v2"
    versions = {r.adapter_version for r in responses}
    assert versions <= {None, "v1", "v2"} and "v1" in versions  # "bad-v" was refused
    metrics = httpx.get(scripted_serving.url + "/metrics", timeout=5).text
    assert 'kaizen_adapter_events_total{action="promoted",outcome="failed"} 1.0' in metrics
    assert 'kaizen_active_adapter{role="active",tenant="default",version="v2"} 1.0' in metrics


def test_curated_chain_of_thought_reaches_the_exemplar_pool(
    scripted_serving: ServiceProcess, kaizen_settings: Settings
) -> None:
    topics = Topics.from_settings(kaizen_settings)
    example = InstructionExample(
        tenant="acme",
        example_id="flywheel-1",
        feedback_id=uuid.uuid4(),
        response_id=uuid.uuid4(),
        instruction="How many drones fit in 3 depots of 4?",
        output="12 drones",
        reasoning=["Each depot holds 4 drones.", "3 * 4 = 12."],
        strategy="cot",
    )
    with EventProducer(kaizen_settings) as producer:
        producer.send_many(topics.instructions, [example, example.model_copy(update={"strategy": "rag"})])
    pool_file = kaizen_settings.data_dir / "exemplars" / "acme.jsonl"
    deadline = time.monotonic() + 30
    while "kaizen_exemplars_learned_total 1.0" not in httpx.get(scripted_serving.url + "/metrics", timeout=5).text:
        assert time.monotonic() < deadline, "the curated example never reached the pool"
        time.sleep(0.2)
    stored = [json.loads(line) for line in pool_file.read_text().splitlines()]
    assert [(e["exemplar_id"], e["output"], e["source"]) for e in stored] == [("flywheel-1", "12 drones", "flywheel")]
