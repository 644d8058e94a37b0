"""Which adapter answers a request, and how adapter events change that without dropping a request.

The LLM runtime loads and verifies adapters (``AdapterLoader``); this decides who uses which, and only asks the
runtime to unload a version once no request is using it any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Protocol

from kaizen.events import AdapterAction, AdapterEvent, InteractionRequest

log = logging.getLogger(__name__)


class AdapterLoader(Protocol):
    """The runtime side: ``load`` verifies (checksum, base model) and makes ``version`` usable in ``generate``;
    both may block (disk, weights), so they run off the event loop."""

    def load(self, version: str, *, checksum: str | None = None) -> None: ...

    def unload(self, version: str) -> None: ...


CanaryRule = Callable[[str, float], bool]
"""(user_id, share) -> True when this user is in the canary share."""


class ServingAdapters:
    def __init__(
        self,
        loader: AdapterLoader,
        in_canary: CanaryRule,
        *,
        default_share: float,
        active: str | None = None,
    ) -> None:
        self.loader = loader
        self.in_canary = in_canary
        self.default_share = default_share
        self._active = active
        self._canary: str | None = None
        self._share = 0.0
        self._history: list[str | None] = []  # earlier active versions, newest last (for rollback)
        self._leases: Counter[str] = Counter()
        self._retiring: set[str] = set()
        self._lock = asyncio.Lock()  # adapter events apply one at a time, in topic order

    @property
    def active(self) -> str | None:
        return self._active

    @property
    def canary(self) -> str | None:
        return self._canary

    @property
    def loaded_in_use(self) -> dict[str, int]:
        return {v: n for v, n in self._leases.items() if n}

    def choose(self, request: InteractionRequest) -> str | None:
        if request.options.adapter:
            return request.options.adapter
        if self._canary and self.in_canary(request.user_id, self._share):
            return self._canary
        return self._active

    @contextlib.contextmanager
    def lease(self, version: str | None) -> Iterator[None]:
        if version is None:
            yield
            return
        self._leases[version] += 1
        try:
            yield
        finally:
            self._leases[version] -= 1
            if self._leases[version] <= 0:
                del self._leases[version]
                if version in self._retiring:
                    asyncio.get_running_loop().create_task(self._unload_if_unused(version))

    async def apply(self, event: AdapterEvent) -> None:
        async with self._lock:
            if event.action == AdapterAction.promoted:
                await self._promote(event)
            elif event.action == AdapterAction.canary:
                await self._start_canary(event)
            elif event.action == AdapterAction.rollback:
                await self._rollback(event)
            # candidate: registered, not serving yet; nothing to do here.

    async def _load(self, event: AdapterEvent) -> None:
        self._retiring.discard(event.version)
        await asyncio.to_thread(self.loader.load, event.version, checksum=event.checksum)

    async def _promote(self, event: AdapterEvent) -> None:
        """A promotion ends any canary: the candidate either is the promoted version or lost."""
        if event.version != self._active:
            await self._load(event)  # a refused adapter raises here and the active one stays
            previous, self._active = self._active, event.version
            self._history.append(previous)
            await self._retire(previous)
        canary, self._canary = self._canary, None
        await self._retire(canary)

    async def _start_canary(self, event: AdapterEvent) -> None:
        if event.version == self._active:
            return
        await self._load(event)
        previous, self._canary = self._canary, event.version
        self._share = event.canary_share if event.canary_share is not None else self.default_share
        await self._retire(previous)

    async def _rollback(self, event: AdapterEvent) -> None:
        """Serve ``event.version`` (the version rolled back to) and drop any canary."""
        canary, self._canary = self._canary, None
        await self._retire(canary)
        if event.version != self._active:
            await self._load(event)
            previous, self._active = self._active, event.version
            if self._history and self._history[-1] == event.version:
                self._history.pop()
            await self._retire(previous)

    async def _retire(self, version: str | None) -> None:
        if version is None or version in (self._active, self._canary):
            return
        self._retiring.add(version)
        await self._unload_if_unused(version)

    async def _unload_if_unused(self, version: str) -> None:
        # Requests that chose ``version`` hold a lease; it is unloaded when the last one finishes.
        if self._leases.get(version) or version not in self._retiring or version in (self._active, self._canary):
            return
        self._retiring.discard(version)
        try:
            await asyncio.to_thread(self.loader.unload, version)
        except Exception:
            log.exception("could not unload adapter %s", version)


def user_in_share(user_id: str, share: float) -> bool:
    """A stable hash of the user id against the share, so one user always sees the same side of a canary."""
    digest = hashlib.sha256(f"kaizen:canary:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
