"""Recent responses, looked up by request or response id, with waiters for callers that block on one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict

from kaizen.events import InteractionResponse


class ResponseStore:
    """Bounded: the oldest entries go first. Only the owning tenant ever sees an entry."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._responses: OrderedDict[uuid.UUID, InteractionResponse] = OrderedDict()
        self._by_response: dict[uuid.UUID, uuid.UUID] = {}
        # Requests this gateway produced and has no answer for yet: request id -> tenant.
        self._pending: OrderedDict[uuid.UUID, str] = OrderedDict()
        self._waiters: dict[uuid.UUID, list[asyncio.Future[InteractionResponse]]] = {}

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
