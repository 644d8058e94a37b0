"""Everything the serving service runs, built from Settings: engine, reasoning, adapters, the core."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY

from kaizen.config import Settings
from kaizen.serving.adapters import ServingAdapters
from kaizen.serving.core import ServingCore
from kaizen.serving.metered import MeteredLLM
from kaizen.serving.metrics import ServingMetrics

if TYPE_CHECKING:  # torch and peft load only when the runtime is built
    from kaizen.llm.adapters import AdapterManager

log = logging.getLogger(__name__)


class ServingRuntime:
    """Built once per process; the model loads in a thread so the event loop keeps serving heartbeats."""

    def __init__(self, settings: Settings, build: Callable[[Settings], ServingCore] | None = None) -> None:
        self.settings = settings
        # ``build`` replaces the real model with a scripted one in tests of the service's event handling.
        self.build = build
        self.core: ServingCore | None = None
        self.engine: object | None = None
        self._started = asyncio.Event()
        self.adapters_caught_up = asyncio.Event()

    @property
    def active_adapter(self) -> str | None:
        return self.core.adapters.active if self.core else None

    async def start(self) -> ServingCore:
        self.core = await asyncio.to_thread(self.build or self._build, self.settings)
        self._started.set()
        return self.core

    async def started(self) -> ServingCore:
        await self._started.wait()
        assert self.core is not None
        return self.core

    def _build(self, settings: Settings) -> ServingCore:
        from kaizen.llm.adapters import AdapterManager
        from kaizen.llm.engine import GenerationEngine
        from kaizen.reasoning.answer import answer
        from kaizen.reasoning.factory import build_deps
        from kaizen.registry import AdapterRegistry

        metrics = ServingMetrics(REGISTRY)
        engine = GenerationEngine.from_settings(settings).start()
        self.engine = engine
        deps = build_deps(settings, MeteredLLM(engine, metrics))
        manager = AdapterManager(engine, AdapterRegistry(settings.registry_dir))
        adapters = ServingAdapters(ManagerLoader(manager), canary_rule, default_share=settings.canary_share)
        log.info("serving runtime ready: model %s", engine.lm.model_dir)
        return ServingCore(
            functools.partial(answer, deps=deps),
            adapters,
            metrics=metrics,
            seen_capacity=settings.serving_seen_requests,
            exemplars=deps.exemplars,
        )

    async def stop(self) -> None:
        close = getattr(self.engine, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


def canary_rule(user_id: str, share: float) -> bool:
    """The LLM runtime's user-id hashing, so every component agrees on who is in a canary."""
    from kaizen.llm.canary import CanaryRouter

    return CanaryRouter(share=share).in_canary(user_id)


class ManagerLoader:
    """``AdapterLoader`` over the LLM runtime's AdapterManager, used as a verified loader only.

    Serving passes the adapter explicitly on every request and unloads a version only when no request holds it
    (a request may call the model several times), so it does not use the manager's activate/candidate state,
    whose automatic unloading does not know about whole requests."""

    def __init__(self, manager: AdapterManager) -> None:
        self.manager = manager

    def load(self, version: str, *, checksum: str | None = None) -> None:
        manifest = self.manager.load(version)  # verifies the registry checksum and the base-model fingerprint
        if checksum is not None and manifest.checksum != checksum:
            self.manager.unload(version)
            raise ValueError(
                f"adapter {version}: the event's checksum {checksum[:12]} does not match the registry's "
                f"{manifest.checksum[:12]}"
            )

    def unload(self, version: str) -> None:
        self.manager.unload(version)
