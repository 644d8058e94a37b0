"""The real serving service (same agents, adapter feed, pages) with a scripted model instead of the LLM.

Run as ``python -m tests.support.scripted_serving_service``: the broker-level behaviour (duplicates, failures, adapter
events, dead letters) is tested fast; tests/test_serving_service.py also runs the real model."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

from prometheus_client import REGISTRY

from kaizen.config import Settings
from kaizen.llm.types import Completion, OnDelta, Prompt
from kaizen.reasoning.answer import answer
from kaizen.reasoning.deps import ReasoningDeps
from kaizen.reasoning.exemplars import ExemplarPool
from kaizen.reasoning.testing import ScriptedLLM, hashing_embed
from kaizen.retrieval.types import Retriever
from kaizen.serving.adapters import ServingAdapters
from kaizen.serving.core import ServingCore
from kaizen.serving.metered import MeteredLLM
from kaizen.serving.metrics import ServingMetrics
from kaizen.serving.runtime import ServingRuntime, rollout_from_settings
from services.runner import run_worker
from services.serving.app import build_app
from tests.support.serving import PIECE_SECONDS, STREAMED, STREAMED_ANSWER


class ScriptedLoader:
    """Refuses versions starting with "bad" (as a corrupt adapter is refused); records what is loaded."""

    def __init__(self) -> None:
        self.loaded: set[str] = set()

    def load(self, version: str, *, checksum: str | None = None) -> None:
        if version.startswith("bad"):
            raise ValueError(f"adapter {version} failed verification")
        self.loaded.add(version)

    def unload(self, version: str) -> None:
        self.loaded.discard(version)


class SlowScriptedLLM(ScriptedLLM):
    """Takes a little time per call, and refuses adapters that are not loaded, like the engine."""

    loader: ScriptedLoader

    async def generate(
        self, prompt: Prompt, *, adapter: str | None = None, on_delta: OnDelta | None = None, **kwargs: object
    ) -> Completion:
        await asyncio.sleep(0.05)
        if adapter is not None and adapter not in self.loader.loaded:
            raise RuntimeError(f"unknown adapter {adapter!r}")
        pieces: list[str] = []
        completion = await super().generate(prompt, adapter=adapter, on_delta=pieces.append, **kwargs)  # type: ignore[arg-type]
        if on_delta is not None:
            # From another thread, with time between pieces, as the engine hands them over.
            for piece in pieces:
                await asyncio.sleep(PIECE_SECONDS if STREAMED in str(prompt) else 0)
                await asyncio.to_thread(on_delta, piece)
        return completion


def build(
    settings: Settings, *, retriever: Retriever | None = None, rules: Sequence[tuple[str, str]] = ()
) -> ServingCore:
    """``rules`` come before the streamed one; ``retriever`` serves rag (none by default)."""
    loader = ScriptedLoader()
    llm = SlowScriptedLLM(
        [*rules, (STREAMED, f" {STREAMED_ANSWER}")], default="scripted answer", fail_on="FAIL", adapter_version=None
    )
    llm.loader = loader
    metrics = ServingMetrics(REGISTRY)
    pool = ExemplarPool.for_data_dir(settings.data_dir, hashing_embed)
    deps = ReasoningDeps(llm=MeteredLLM(llm, metrics), exemplars=pool, retriever=retriever)
    adapters = ServingAdapters(loader, rollout_from_settings(settings))
    return ServingCore(
        functools.partial(answer, deps=deps),
        adapters,
        metrics=metrics,
        seen_capacity=settings.serving_seen_requests,
        exemplars=pool,
    )


if __name__ == "__main__":
    settings = Settings()
    runtime = ServingRuntime(settings)
    runtime.build = build  # type: ignore[method-assign]
    run_worker(build_app(settings, runtime=runtime))
