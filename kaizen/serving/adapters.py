"""Serving's side of the adapter rollout: load what a transition needs, lease per request, unload what may go.

The rules (who answers which tenant's user, what an event changes, what is unloaded) are
``kaizen.registry.rollout.AdapterRollout``; this class does the loading I/O they call for, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from kaizen.events import AdapterEvent, InteractionRequest
from kaizen.registry.rollout import AdapterRollout

log = logging.getLogger(__name__)


class AdapterLoader(Protocol):
    """The runtime side: ``load`` verifies (checksum, base model) and makes ``version`` usable in ``generate``;
    both may block (disk, weights), so they run off the event loop."""

    def load(self, version: str, *, checksum: str | None = None) -> object: ...

    def unload(self, version: str) -> None: ...


class ServingAdapters:
    def __init__(self, loader: AdapterLoader, rollout: AdapterRollout) -> None:
        self.loader = loader
        self.rollout = rollout
        self._lock = asyncio.Lock()  # adapter events apply one at a time, in topic order
        self._loading: dict[str, asyncio.Future[None]] = {}
        # Loads and unloads run one at a time: a version unloaded and wanted again is loaded after the unload.
        self._io = asyncio.Lock()

    def choose(self, request: InteractionRequest) -> str | None:
        """Raises ``AdapterNotFound`` for a pin to another tenant's version or an unknown one."""
        return self.rollout.choose(request.tenant, request.user_id, request.options.adapter)

    @contextlib.asynccontextmanager
    async def lease(self, version: str | None) -> AsyncIterator[None]:
        """Held while a request uses ``version``: loaded (again, verified) if it was unloaded, kept until release."""
        if version is None:
            yield
            return
        self.rollout.acquire(version)
        try:
            await self._ensure_loaded(version)
            yield
        finally:
            self.rollout.release(version)
            await self._unload_unused()

    async def apply(self, event: AdapterEvent) -> None:
        async with self._lock:
            transition = self.rollout.plan(event)
            wanted = sorted(transition.to_load)
            for version in wanted:  # leased so that no concurrent release unloads it before the commit
                self.rollout.acquire(version)
            try:
                for version in wanted:
                    # A refused adapter raises here: nothing is committed and the tenant keeps what it had.
                    await self._ensure_loaded(version, checksum=event.checksum)
                self.rollout.commit(transition)
            finally:
                for version in wanted:
                    self.rollout.release(version)
            await self._unload_unused()

    async def _ensure_loaded(self, version: str, *, checksum: str | None = None) -> None:
        if self.rollout.is_loaded(version):
            self.rollout.touch(version)
            return
        if (pending := self._loading.get(version)) is not None:  # another request is loading it already
            await asyncio.shield(pending)
            return
        if checksum is None and (known := self.rollout.known(version)) is not None:
            checksum = known.checksum
        pending = asyncio.get_running_loop().create_future()
        self._loading[version] = pending
        try:
            async with self._io:
                await asyncio.to_thread(self.loader.load, version, checksum=checksum)
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # retrieved: waiting requests re-raise it, nobody else must
            raise
        else:
            self.rollout.mark_loaded(version)
            pending.set_result(None)
        finally:
            del self._loading[version]

    async def _unload_unused(self) -> None:
        if not self.rollout.to_unload():
            return
        async with self._io:
            # Recomputed after every unload: a request may lease a victim meanwhile.
            while victims := self.rollout.to_unload():
                version = victims[0]
                self.rollout.mark_unloaded(version)
                try:
                    await asyncio.to_thread(self.loader.unload, version)
                except Exception:
                    log.exception("could not unload adapter %s", version)
