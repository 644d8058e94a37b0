"""A bus double for tests of the gateway's HTTP layer: records what is produced, answers as serving would."""

from __future__ import annotations

import asyncio
import re

from kaizen.config import Settings
from kaizen.events import Citation, Event, InteractionDelta, InteractionRequest, InteractionResponse
from kaizen.gateway.bus import ObservedState
from kaizen.gateway.store import ResponseStore
from kaizen.serving.metrics import ServingMetrics
from kaizen.topics import Topics

TOKENS = {"token-a": "alpha", "token-b": "beta"}  # two tenants, one token each
A = {"Authorization": "Bearer token-a"}
B = {"Authorization": "Bearer token-b"}


class ScriptedBus:
    """Records what the gateway produces and answers requests the way the serving service would."""

    def __init__(
        self, settings: Settings, *, answer_delay: float = 0.0, fail: bool = False, error_code: str | None = None
    ) -> None:
        self.topics = Topics.from_settings(settings)
        self.state = ObservedState(ResponseStore(settings.gateway_store_size), ServingMetrics())
        self.store = self.state.store
        self.sent: list[tuple[str, Event]] = []
        self.answer_delay = answer_delay
        self.fail = fail
        self.error_code = error_code
        self.hold = False
        self.streamed_pieces = 2
        # Cited by every answer (as a rag answer cites its chunks).
        self.citations: list[Citation] = []
        self._started = False

    @property
    def ready(self) -> bool:
        return self._started

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    async def send(self, topic: str, event: Event) -> None:
        self.sent.append((topic, event))
        if isinstance(event, InteractionRequest) and not self.hold:
            asyncio.get_running_loop().call_later(self.answer_delay, self.answer, event)

    def answer(self, request: InteractionRequest) -> InteractionResponse:
        text = "" if self.fail else f"answer to {request.question}"
        if request.stream:
            # As serving streams: pieces of the start of the answer, then the response (which has it whole).
            pieces = re.findall(r"\s*\S+", text)[: self.streamed_pieces]
            for index, piece in enumerate(pieces):
                self.state.on_delta(
                    InteractionDelta(tenant=request.tenant, request_id=request.event_id, index=index, text=piece)
                )
            if pieces:  # a redelivered delta must not repeat
                self.state.on_delta(
                    InteractionDelta(tenant=request.tenant, request_id=request.event_id, index=0, text=pieces[0])
                )
        response = InteractionResponse(
            tenant=request.tenant,
            request_id=request.event_id,
            response_id=InteractionResponse.response_id_for(request.event_id),
            question=request.question,
            mode=request.mode,
            strategy="direct",
            answer=text,
            adapter_version="v1",
            error="model exploded" if self.fail else None,
            error_code=self.error_code if self.fail else None,
            latency_ms=12.0,
            citations=self.citations,
            retrieved_chunk_ids=[c.chunk_id for c in self.citations],
        )
        self.state.on_response(response)
        return response
