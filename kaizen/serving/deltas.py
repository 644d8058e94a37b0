"""Publishing a request's answer deltas as they are decoded, without making the answer wait on the broker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kaizen.events import InteractionDelta, InteractionRequest

log = logging.getLogger(__name__)

Send = Callable[[InteractionDelta], Awaitable[object]]


class DeltaPublisher:
    """An ``OnDelta`` for one request (called on the event loop): numbers the pieces and sends them in order from
    its own task. ``close`` waits until every piece is sent, so they all precede the response on the wire."""

    def __init__(self, request: InteractionRequest, send: Send) -> None:
        self.request = request
        self._send = send
        self._queue: asyncio.Queue[InteractionDelta | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def __call__(self, text: str) -> None:
        delta = InteractionDelta(
            tenant=self.request.tenant, request_id=self.request.event_id, index=self.sent, text=text
        )
        self.sent += 1
        self._queue.put_nowait(delta)
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name=f"deltas-{self.request.event_id}")

    async def _drain(self) -> None:
        while (delta := await self._queue.get()) is not None:
            try:
                await self._send(delta)
            except Exception:  # a lost delta costs a client one live piece; the response still carries it all
                log.exception("could not publish delta %s of %s", delta.index, delta.request_id)

    async def close(self) -> None:
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
