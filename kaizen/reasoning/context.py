"""Per-request state shared by the strategies: the trace of every model call and retrieval, and its timings."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from kaizen.events import Citation, InteractionRequest, TraceStep
from kaizen.llm.types import Completion, OnDelta
from kaizen.reasoning.conversation import prompt_variables, search_query
from kaizen.reasoning.prompts import RenderedPrompt
from kaizen.reasoning.stream import AnswerStream, Extract
from kaizen.retrieval.types import SearchHit

if TYPE_CHECKING:
    from kaizen.reasoning.deps import ReasoningDeps

# Completions are copied into the trace for debugging and curation; a cap keeps events small.
TRACE_TEXT_CHARS = 2_000


class StrategyResult(BaseModel):
    answer: str
    reasoning: list[str] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)


@dataclass
class RunContext:
    request: InteractionRequest
    deps: ReasoningDeps
    adapter: str | None = None
    trace: list[TraceStep] = field(default_factory=list)
    prompt_refs: list[str] = field(default_factory=list)
    adapter_version: str | None = None
    # Every chunk any retrieval returned, in first-seen order (RAFT needs the distractors too).
    retrieved: dict[str, SearchHit] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    # Set when the caller watches the answer as it is decoded; fed by the generation given ``answer=``.
    stream: AnswerStream | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    def record(self, step: str, name: str, detail: dict[str, Any], started_ms: float | None = None) -> None:
        start = self.elapsed_ms() if started_ms is None else started_ms
        duration = 0.0 if started_ms is None else self.elapsed_ms() - started_ms
        self.trace.append(
            TraceStep(step=step, name=name, detail=detail, started_ms=round(start, 3), duration_ms=round(duration, 3))
        )

    def conversation(self) -> dict[str, Any]:
        """``system`` and ``history`` (within the budget) for the prompt that answers the question."""
        return prompt_variables(self.request, self.deps.history_max_tokens)

    @property
    def query(self) -> str:
        """What retrieval searches for the question: the question in its conversation."""
        return search_query(self.request)

    @property
    def knowledge_bases(self) -> list[str]:
        return list(self.request.knowledge_bases) or list(self.deps.default_knowledge_bases)

    async def generate(
        self,
        name: str,
        prompt: RenderedPrompt,
        *,
        stop: list[str],
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        answer: Extract | None = None,
    ) -> Completion:
        """``answer`` marks the generation that produces the final answer: with a stream, its text is streamed as
        ``answer`` reads it from the completion so far."""
        options = self.request.options
        tokens = min(max_new_tokens or options.max_new_tokens, options.max_new_tokens)
        temp = options.temperature if temperature is None else temperature
        if prompt.ref not in self.prompt_refs:
            self.prompt_refs.append(prompt.ref)
        started = self.elapsed_ms()
        completion = await self.deps.llm.generate(
            prompt.text,
            max_new_tokens=tokens,
            temperature=temp,
            stop=stop,
            adapter=self.adapter,
            seed=seed,
            on_delta=self._on_delta(answer),
        )
        self.adapter_version = completion.adapter_version or self.adapter_version
        self.record(
            "generate",
            name,
            {
                "prompt": prompt.ref,
                "prompt_chars": len(prompt.text),
                "prompt_tokens": completion.prompt_tokens,
                "completion": completion.text[:TRACE_TEXT_CHARS],
                "completion_tokens": len(completion.tokens),
                "finish_reason": completion.finish_reason,
                "temperature": temp,
                "seed": seed,
                "adapter_version": completion.adapter_version,
            },
            started,
        )
        return completion

    def _on_delta(self, answer: Extract | None) -> OnDelta | None:
        stream = self.stream
        if stream is None or answer is None:
            return None
        loop = asyncio.get_running_loop()
        pieces: list[str] = []

        def feed(piece: str) -> None:
            pieces.append(piece)
            stream.feed("".join(pieces), answer)

        # The engine calls from its worker thread: parsing and sending happen on the event loop.
        return lambda piece: loop.call_soon_threadsafe(feed, piece)

    async def retrieve(
        self, name: str, query: str, knowledge_bases: list[str], *, top_k: int | None = None
    ) -> list[SearchHit]:
        retriever = self.deps.retriever
        if retriever is None:
            raise RuntimeError("this strategy needs a retriever, and none is configured")
        if not knowledge_bases:
            raise ValueError("no knowledge base to search: name one in the request's knowledge_bases")
        k = top_k or self.request.options.top_k
        started = self.elapsed_ms()
        hits = await retriever.search(
            query,
            tenant=self.request.tenant,
            knowledge_bases=knowledge_bases,
            mode=self.deps.search_mode,
            top_k=k,
            alpha=self.deps.alpha,
            optional_knowledge_bases=self.deps.answer_knowledge_bases,
        )
        new = [h.chunk.chunk_id for h in hits if h.chunk.chunk_id not in self.retrieved]
        for hit in hits:
            self.retrieved.setdefault(hit.chunk.chunk_id, hit)
        self.record(
            "retrieve",
            name,
            {
                "query": query[:TRACE_TEXT_CHARS],
                "knowledge_bases": knowledge_bases,
                "mode": self.deps.search_mode,
                "top_k": k,
                "hits": [{"chunk_id": h.chunk.chunk_id, "score": round(h.score, 6)} for h in hits],
                "new_chunk_ids": new,
            },
            started,
        )
        return hits
