"""Answer each request id once: duplicates (redelivery, a replayed partition) get the first answer back."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from kaizen.events import InteractionResponse


class SeenRequests:
    """Bounded memory of recent request ids -> their response (or the answer still being computed).

    A duplicate that arrives while the first copy is still being answered waits for that answer instead of
    starting a second generation. Beyond this process's memory, response ids derive from request ids
    (``InteractionResponse.response_id_for``), so consumers can still drop a duplicate response."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[uuid.UUID, asyncio.Future[InteractionResponse]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, request_id: uuid.UUID) -> bool:
        return request_id in self._entries

    async def once(
        self, request_id: uuid.UUID, compute: Callable[[], Awaitable[InteractionResponse]]
    ) -> tuple[InteractionResponse, bool]:
        """(response, first): ``first`` is False when this request id was answered (or is being answered) already."""
        existing = self._entries.get(request_id)
        if existing is not None:
            self._entries.move_to_end(request_id)
            return await asyncio.shield(existing), False
        future: asyncio.Future[InteractionResponse] = asyncio.get_running_loop().create_future()
        self._entries[request_id] = future
        self._evict()
        try:
            response = await compute()
        except BaseException as exc:
            # Nothing was answered (cancelled at shutdown, or a bug): forget the id so a redelivery is answered.
            self._entries.pop(request_id, None)
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiting duplicates re-raise it, nobody else must
            raise
        future.set_result(response)
        return response, True

    def _evict(self) -> None:
        excess = len(self._entries) - self.capacity
        if excess <= 0:
            return
        # Oldest first, skipping answers still in progress (a bounded overshoot of at most the requests in flight).
        victims: list[uuid.UUID] = []
        for request_id, future in self._entries.items():
            if len(victims) >= excess:
                break
            if future.done():
                victims.append(request_id)
        for request_id in victims:
            del self._entries[request_id]
