"""An LLM wrapper that records what only the generating process can see: batch sizes and generation time."""

from __future__ import annotations

from kaizen.llm.types import LLM, Completion, OnDelta, Prompt
from kaizen.serving.metrics import ServingMetrics


class MeteredLLM:
    def __init__(self, llm: LLM, metrics: ServingMetrics) -> None:
        self.llm = llm
        self.metrics = metrics

    async def generate(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        adapter: str | None = None,
        seed: int | None = None,
        on_delta: OnDelta | None = None,
    ) -> Completion:
        completion = await self.llm.generate(
            prompt,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            stop=stop,
            adapter=adapter,
            seed=seed,
            on_delta=on_delta,
        )
        self.metrics.batch_size.observe(completion.batch_size)
        return completion
