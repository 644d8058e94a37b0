"""Interaction requests in, interaction responses out; adapter events hot-swap the model.

Thin by design: the decisions live in kaizen.serving (tested without Faust). The model runs in the generation
engine's own thread, so this loop only moves events and keeps the consumer's heartbeats on time.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.trace import SpanKind

from kaizen.config import Settings
from kaizen.events import InstructionExample, InteractionDelta, InteractionRequest
from kaizen.serving.adapter_feed import AdapterFeed
from kaizen.serving.core import ServingCore
from kaizen.serving.deltas import DeltaPublisher
from kaizen.serving.runtime import ServingRuntime
from kaizen.streaming.headers import event_headers, trace_context
from kaizen.streaming.producer import encode, event_key
from kaizen.tracing import tracer
from services.app import KaizenApp, make_app
from services.base import validated

SERVICE = "serving"
log = logging.getLogger(__name__)


def build_app(settings: Settings | None = None, *, runtime: ServingRuntime | None = None) -> KaizenApp:
    """``runtime`` replaces the model runtime (tests run the real service around a scripted model)."""
    settings = settings or Settings()
    app = make_app(SERVICE, settings)
    runtime = runtime or ServingRuntime(settings)
    app.runtime = runtime  # type: ignore[attr-defined]
    requests_topic = app.topic(app.topics_.requests, value_serializer="raw")
    responses_topic = app.topic(app.topics_.responses, value_serializer="raw", key_serializer="raw")
    deltas_topic = app.topic(app.topics_.response_deltas, value_serializer="raw", key_serializer="raw")

    async def core_when_ready() -> ServingCore:
        """The core once the model is loaded and the adapter history applied: no request is answered before."""
        core = await runtime.started()
        await runtime.adapters_caught_up.wait()
        return core

    async def send_delta(delta: InteractionDelta) -> None:
        # Keyed by request id: one request's deltas stay in order on one partition.
        await deltas_topic.send(key=event_key(delta), value=encode(delta), headers=event_headers(delta))

    @app.agent(requests_topic, concurrency=settings.service_concurrency)
    async def serve(stream: Any) -> None:
        # ``concurrency`` copies of this agent keep several requests in flight, so the engine can batch them.
        core = await core_when_ready()
        async for request in validated(stream, InteractionRequest, service=SERVICE, app=app):
            # The request's trace continues here: the response and its deltas carry it on.
            parent = trace_context(stream.current_event.headers)
            with tracer().start_as_current_span("serve", context=parent, kind=SpanKind.CONSUMER) as span:
                span.set_attribute("kaizen.request_id", str(request.event_id))
                publisher = DeltaPublisher(request, send_delta) if request.stream else None
                response, first = await core.handle(request, on_delta=publisher)
                if publisher is not None:
                    await publisher.close()
                if first:  # a duplicate delivery was answered already: one response per request id
                    await responses_topic.send(
                        key=event_key(response), value=encode(response), headers=event_headers(response)
                    )

    @app.agent(app.topic(app.topics_.instructions, value_serializer="raw"))
    async def learn_exemplars(stream: Any) -> None:
        # The flywheel's training-free half: accepted chain-of-thought answers become few-shot exemplars.
        core = await core_when_ready()
        async for example in validated(stream, InstructionExample, service=SERVICE, app=app):
            await core.learn(example)

    @app.task
    async def start_runtime() -> None:
        # The model loads in a thread; the event loop stays free for the consumer's heartbeats.
        core = await runtime.start()
        await AdapterFeed(settings, core.on_adapter_event, caught_up=runtime.adapters_caught_up).run()

    # /healthz answers 200 only once the model is loaded and the adapter history applied.
    app.readiness.append(lambda: runtime.core is not None and runtime.adapters_caught_up.is_set())
    app.health_details.append(lambda: {"adapters": runtime.adapters_health()})

    @app.on_before_shutdown.connect
    async def _stop(sender: Any, **kwargs: Any) -> None:
        await runtime.stop()

    return app
