"""Recent responses, looked up by request or response id, with waiters for callers that block on one, and the
answer deltas of requests a client is following live."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator

from kaizen.events import InteractionDelta, InteractionResponse

# What following a request yields: a piece of the answer, a keep-alive tick, or the end (the response; None when
# it did not come in time).
Delta = str
KEEPALIVE = None


class ResponseStore:
    """Bounded: the oldest entries go first. Only the owning tenant ever sees an entry."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._responses: OrderedDict[uuid.UUID, InteractionResponse] = OrderedDict()
        self._by_response: dict[uuid.UUID, uuid.UUID] = {}
        # Requests this gateway produced and has no answer for yet: request id -> tenant.
        self._pending: OrderedDict[uuid.UUID, str] = OrderedDict()
        self._waiters: dict[uuid.UUID, list[asyncio.Future[InteractionResponse]]] = {}
        # Requests followed live: request id -> (tenant, queue of its deltas).
        self._followers: dict[uuid.UUID, tuple[str, asyncio.Queue[InteractionDelta]]] = {}

    def __len__(self) -> int:
        return len(self._responses)

    def expect(self, request_id: uuid.UUID, tenant: str) -> None:
        self._pending[request_id] = tenant
        while len(self._pending) > self.capacity:
            self._pending.popitem(last=False)

    def put(self, response: InteractionResponse) -> bool:
        """Store a response; False when it was already there (a duplicate delivery)."""
        request_id = response.request_id
        self._pending.pop(request_id, None)
        if request_id in self._responses:
            return False
        self._responses[request_id] = response
        self._by_response[response.response_id] = request_id
        while len(self._responses) > self.capacity:
            _, old = self._responses.popitem(last=False)
            self._by_response.pop(old.response_id, None)
        for future in self._waiters.pop(request_id, []):
            if not future.done():
                future.set_result(response)
        return True

    def _request_id(self, any_id: uuid.UUID) -> uuid.UUID:
        return self._by_response.get(any_id, any_id)

    def get(self, any_id: uuid.UUID, tenant: str) -> InteractionResponse | None:
        response = self._responses.get(self._request_id(any_id))
        return response if response is not None and response.tenant == tenant else None

    def recent(self, tenant: str, limit: int = 50) -> list[InteractionResponse]:
        """The tenant's latest responses, newest first."""
        found: list[InteractionResponse] = []
        for response in reversed(self._responses.values()):
            if response.tenant == tenant:
                found.append(response)
                if len(found) >= limit:
                    break
        return found

    def is_pending(self, request_id: uuid.UUID, tenant: str) -> bool:
        return self._pending.get(request_id) == tenant

    def owner(self, any_id: uuid.UUID) -> str | None:
        """The tenant an id belongs to, when this gateway knows it."""
        request_id = self._request_id(any_id)
        if (response := self._responses.get(request_id)) is not None:
            return response.tenant
        return self._pending.get(request_id)

    async def wait(self, request_id: uuid.UUID, tenant: str, timeout: float) -> InteractionResponse | None:
        """The response, waiting up to ``timeout`` seconds for it; None on timeout or another tenant's id."""
        if (found := self.get(request_id, tenant)) is not None:
            return found
        if self.owner(request_id) not in (None, tenant):
            return None
        future: asyncio.Future[InteractionResponse] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request_id, []).append(future)
        try:
            response = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(request_id, [])
            with contextlib.suppress(ValueError):
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(request_id, None)
        return response if response.tenant == tenant else None

    def put_delta(self, delta: InteractionDelta) -> None:
        """Hand a delta to the client following its request; dropped when nobody here follows it."""
        follower = self._followers.get(delta.request_id)
        if follower is not None and follower[0] == delta.tenant:
            follower[1].put_nowait(delta)

    def follow_deltas(self, request_id: uuid.UUID, tenant: str) -> None:
        """Start collecting a request's deltas; call before sending the request so that none is missed."""
        self._followers[request_id] = (tenant, asyncio.Queue())

    async def follow(
        self, request_id: uuid.UUID, tenant: str, timeout: float, *, keepalive: float
    ) -> AsyncIterator[Delta | InteractionResponse | None]:
        """The request's deltas in order (``str``), ``None`` after ``keepalive`` seconds of silence, and last the
        response (``InteractionResponse``, or ``None`` after ``timeout``): the caller stops on a response."""
        tenant_queue = self._followers.setdefault(request_id, (tenant, asyncio.Queue()))
        queue = tenant_queue[1]
        response = asyncio.ensure_future(self.wait(request_id, tenant, timeout))
        next_index = 0
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, response}, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    if response in done:
                        break
                    yield KEEPALIVE
                    continue
                delta = getter.result()
                if delta.index >= next_index:  # a redelivered delta is not repeated
                    next_index = delta.index + 1
                    yield delta.text
            # Deltas that arrived with the response come before it.
            while not queue.empty():
                delta = queue.get_nowait()
                if delta.index >= next_index:
                    next_index = delta.index + 1
                    yield delta.text
            found = response.result()
            yield found
        finally:
            response.cancel()
            self._followers.pop(request_id, None)
