"""Everything the serving service runs, built from Settings: engine, reasoning, adapters, the core."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from prometheus_client import REGISTRY

from kaizen.config import Settings
from kaizen.registry.rollout import AdapterRollout
from kaizen.serving.adapters import ServingAdapters
from kaizen.serving.core import ServingCore
from kaizen.serving.metered import MeteredLLM
from kaizen.serving.metrics import ServingMetrics

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

    def adapters_health(self) -> dict[str, dict[str, str | None]]:
        """Per tenant, the promoted and canary versions (for /healthz)."""
        tenants = self.core.adapters.rollout.tenants if self.core else {}
        return {name: {"promoted": t.promoted, "canary": t.canary} for name, t in tenants.items()}

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
        adapters = ServingAdapters(manager, rollout_from_settings(settings))
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


def rollout_from_settings(settings: Settings) -> AdapterRollout:
    return AdapterRollout(default_share=settings.canary_share, max_loaded=settings.max_loaded_adapters)
