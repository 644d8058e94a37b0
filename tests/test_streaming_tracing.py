"""Kafka headers on every event, and one request's W3C trace followed from the gateway through serving and the
curator to its dataset example, through the real broker and the real service processes."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition

from kaizen.config import Settings
from kaizen.events import InteractionRequest
from kaizen.streaming.headers import event_headers, header_map, trace_context
from kaizen.topics import Topics
from kaizen.tracing import configure_tracing, make_provider, tracer
from tests.support.serving import AUTH_A, TOKENS, gateway_process


def _records(settings: Settings, topic: str, match: Callable[[dict[str, Any]], bool], timeout: float = 60) -> Any:
    """The first record on ``topic`` whose JSON value matches, read from the start."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                for record in records:
                    if match(json.loads(record.value)):
                        return record
        raise TimeoutError(f"no matching record on {topic}")
    finally:
        consumer.close()


def _trace_id(headers: Any) -> str:
    return header_map(headers)["traceparent"].split("-")[1]


def test_headers_say_what_an_event_is_and_carry_the_current_trace() -> None:
    configure_tracing(Settings(), "test")
    request = InteractionRequest(tenant="acme", question="q")
    outside = header_map(event_headers(request))
    assert outside == {
        "content-type": "application/json",
        "kaizen-event-type": "interaction_request",
        "kaizen-schema-version": "1",
    }
    with tracer().start_as_current_span("produce") as span:
        inside = event_headers(request)
    trace_id = f"{span.get_span_context().trace_id:032x}"
    assert _trace_id(inside) == trace_id
    # A consumer continues the producer's trace from the headers alone.
    with tracer().start_as_current_span("consume", context=trace_context(inside)) as child:
        assert f"{child.get_span_context().trace_id:032x}" == trace_id


def test_one_request_is_followed_from_the_gateway_through_serving_and_the_curator(
    kaizen_settings: Settings, run_service: Callable[..., Any], tmp_path: Path
) -> None:
    settings = kaizen_settings.with_overrides(api_tokens=TOKENS, gateway_wait_seconds=60.0)
    topics = Topics.from_settings(settings)
    trace_id = secrets.token_hex(16)
    caller = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    with (
        run_service("tests.support.scripted_serving_service", settings=settings),
        run_service("services.curator", settings=settings),
        gateway_process(settings, tmp_path) as gateway,
        httpx.Client(base_url=gateway.url, timeout=70) as http,
    ):
        question = {"question": "What is the capital of France?", "mode": "direct"}
        submitted = http.post("/v1/interactions", json=question, headers=AUTH_A | caller)
        assert submitted.status_code == 202, submitted.text
        request_id = submitted.json()["request_id"]
        done = http.get(f"/v1/interactions/{request_id}", params={"wait": 60}, headers=AUTH_A).json()
        response_id = done["response"]["response_id"]
        correction = {"response_id": response_id, "thumbs": "down", "correction": "The capital of France is Paris."}
        assert http.post("/v1/feedback", json=correction, headers=AUTH_A).status_code == 202
        example = _records(settings, topics.instructions, lambda v: v.get("response_id") == response_id)

    request = _records(settings, topics.requests, lambda v: v.get("event_id") == request_id)
    response = _records(settings, topics.responses, lambda v: v.get("request_id") == request_id)
    feedback = _records(settings, topics.feedback, lambda v: v.get("response_id") == response_id)
    for record, kind in [
        (request, "interaction_request"),
        (response, "interaction_response"),
        (feedback, "feedback"),
        (example, "instruction_example"),
    ]:
        headers = header_map(record.headers)
        assert headers["content-type"] == "application/json" and headers["kaizen-schema-version"] == "1"
        assert headers["kaizen-event-type"] == kind
    # The caller's trace: the gateway's request, serving's response and the curator's example are all in it.
    assert [_trace_id(r.headers) for r in (request, response, example)] == [trace_id] * 3
    assert _trace_id(feedback.headers) != trace_id  # the feedback was its own HTTP request, its own trace


def test_spans_are_exported_only_to_a_configured_otlp_endpoint() -> None:
    received: list[tuple[str, str]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        for settings, expected in ((Settings(), 0), (Settings(otlp_endpoint=endpoint), 1)):
            provider = make_provider(settings, "test")
            with provider.get_tracer("test").start_as_current_span("work"):
                pass
            provider.force_flush()
            provider.shutdown()
            assert len(received) == expected
    finally:
        server.shutdown()
    assert received == [("/v1/traces", "application/x-protobuf")]
