"""Answering one interaction request: pick the adapter, run the strategy, always return a response.

Free of Faust and Kafka, so the service (services/serving) stays a thin loop and this is tested directly."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from kaizen.events import AdapterEvent, InstructionExample, InteractionRequest, InteractionResponse, Mode
from kaizen.llm.types import OnDelta
from kaizen.registry.rollout import AdapterNotFound, AdapterRollout
from kaizen.serving.idempotency import SeenRequests
from kaizen.serving.metrics import ServingMetrics

log = logging.getLogger(__name__)


class Answerer(Protocol):
    """``kaizen.reasoning.answer`` with its dependencies bound."""

    def __call__(
        self, request: InteractionRequest, *, adapter: str | None, on_delta: OnDelta | None = None
    ) -> Awaitable[InteractionResponse]: ...


class ExemplarSink(Protocol):
    """The few-shot exemplar pool (kaizen.reasoning.exemplars.ExemplarPool) as the flywheel feeds it."""

    def add_from_example(self, example: InstructionExample) -> object | None: ...


# Strategies whose curated reasoning is a chain of thought a few-shot prompt can show.
LEARNS_FROM = frozenset({"cot", "self_consistency"})


class AdapterControl(Protocol):
    """Which adapter answers a request, and how adapter events change that (see kaizen.serving.adapters)."""

    rollout: AdapterRollout

    def choose(self, request: InteractionRequest) -> str | None:
        """Raises ``AdapterNotFound`` for a pin the request's tenant may not use."""
        ...

    def lease(self, version: str | None) -> AbstractAsyncContextManager[None]:
        """Held while a request uses ``version``: loaded on demand, not unloaded before release."""
        ...

    async def apply(self, event: AdapterEvent) -> None: ...


def error_response(
    request: InteractionRequest, error: str, *, adapter: str | None, latency_ms: float, code: str | None = None
) -> InteractionResponse:
    return InteractionResponse(
        tenant=request.tenant,
        request_id=request.event_id,
        response_id=InteractionResponse.response_id_for(request.event_id),
        user_id=request.user_id,
        question=request.question,
        mode=request.mode if request.mode != Mode.auto else Mode.direct,
        adapter_version=adapter,
        latency_ms=latency_ms,
        session_id=request.session_id,
        system=request.system,
        history=request.history,
        error=error[:4000],
        error_code=code,
    )


class ServingCore:
    def __init__(
        self,
        answer: Answerer,
        adapters: AdapterControl,
        *,
        metrics: ServingMetrics | None = None,
        seen_capacity: int = 10_000,
        exemplars: ExemplarSink | None = None,
    ) -> None:
        self._answer = answer
        self._exemplars = exemplars
        self.adapters = adapters
        self.metrics = metrics or ServingMetrics()
        self.seen = SeenRequests(seen_capacity)
        self.metrics.set_adapters(adapters.rollout)

    async def learn(self, example: InstructionExample) -> bool:
        """Grow the few-shot pool from a curated, accepted chain-of-thought answer; True when it was added."""
        if self._exemplars is None or example.strategy not in LEARNS_FROM:
            return False
        # Embedding and the pool file are blocking work: off the event loop.
        added = await asyncio.to_thread(self._exemplars.add_from_example, example) is not None
        if added:
            self.metrics.exemplars_learned.inc()
        return added

    async def handle(
        self, request: InteractionRequest, *, on_delta: OnDelta | None = None
    ) -> tuple[InteractionResponse, bool]:
        """(response, first): ``first`` is False for a duplicate, whose response was already produced once.

        ``on_delta`` receives the answer as it is decoded (a duplicate streams nothing)."""
        response, first = await self.seen.once(request.event_id, lambda: self._answer_once(request, on_delta))
        if not first:
            self.metrics.duplicates.inc()
        return response, first

    async def _answer_once(self, request: InteractionRequest, on_delta: OnDelta | None) -> InteractionResponse:
        started = time.perf_counter()
        try:
            adapter = self.adapters.choose(request)
        except AdapterNotFound as exc:  # never served: not by another tenant's adapter, not by a fallback
            refused = error_response(request, str(exc), adapter=None, latency_ms=0.0, code=exc.code)
            refused = self._complete(request, refused, None, started)
            self.metrics.observe_response(refused)
            return refused
        self.metrics.in_flight.inc()
        try:
            async with self.adapters.lease(adapter):
                response = await self._answer(request, adapter=adapter, on_delta=on_delta)
        except Exception as exc:  # the strategies report model failures themselves; this is the last guard
            log.exception("request %s failed", request.event_id)
            elapsed = (time.perf_counter() - started) * 1000.0
            response = error_response(request, f"{type(exc).__name__}: {exc}", adapter=adapter, latency_ms=elapsed)
        finally:
            self.metrics.in_flight.dec()
        response = self._complete(request, response, adapter, started)
        self.metrics.observe_response(response)
        return response

    @staticmethod
    def _complete(
        request: InteractionRequest, response: InteractionResponse, adapter: str | None, started: float
    ) -> InteractionResponse:
        """Make sure the ids, tenant and adapter version are right whatever the strategy filled in."""
        updates: dict[str, object] = {}
        expected_id = InteractionResponse.response_id_for(request.event_id)
        if response.request_id != request.event_id or response.response_id != expected_id:
            updates |= {"request_id": request.event_id, "response_id": expected_id}
        if response.tenant != request.tenant:
            updates["tenant"] = request.tenant
        if response.adapter_version is None and adapter is not None:
            updates["adapter_version"] = adapter
        if not response.latency_ms:
            updates["latency_ms"] = (time.perf_counter() - started) * 1000.0
        return response.model_copy(update=updates) if updates else response

    async def on_adapter_event(self, event: AdapterEvent) -> bool:
        """Apply an adapter event; False (logged, counted) when it could not be applied, e.g. bad checksum."""
        try:
            await self.adapters.apply(event)
        except Exception as exc:
            log.error("adapter event %s %s not applied: %s", event.action, event.version, exc)
            self.metrics.observe_adapter_event(event, "failed")
            return False
        self.metrics.observe_adapter_event(event, "applied")
        self.metrics.set_adapters(self.adapters.rollout)
        return True
