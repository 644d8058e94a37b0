"""rag: hybrid retrieval, chunks numbered and quoted as data in the prompt, an answer citing them by number."""

from __future__ import annotations

from kaizen.reasoning.context import RunContext, StrategyResult
from kaizen.reasoning.parsing import parse_short_answer, strip_citations
from kaizen.reasoning.sources import cite, number_sources
from kaizen.reasoning.text import STOP_AFTER_LINE, one_line
from kaizen.retrieval.types import SearchHit

RAG_MAX_NEW_TOKENS = 64
NOT_FOUND = "unknown"


def _answer(text: str) -> str:
    return strip_citations(parse_short_answer(text).answer)


async def answer_from_hits(ctx: RunContext, name: str, hits: list[SearchHit], *, final: bool = False) -> StrategyResult:
    """One grounded answer over the given chunks (used by rag, and by every hop of a retrieval chain); ``final``
    when it is the request's answer, which then streams."""
    sources = number_sources(hits[: ctx.deps.max_context_sources], ctx.deps.max_source_chars)
    if not sources:
        # Nothing to ground on: a base model would only make something up.
        ctx.record("cite", name, {"method": "none", "cited_chunk_ids": [], "reason": "no chunks retrieved"})
        return StrategyResult(answer=NOT_FOUND)
    prompt = ctx.deps.prompts.render(
        "rag", question=one_line(ctx.request.question), sources=sources, **ctx.conversation()
    )
    completion = await ctx.generate(
        name, prompt, stop=STOP_AFTER_LINE, max_new_tokens=RAG_MAX_NEW_TOKENS, answer=_answer if final else None
    )
    raw = parse_short_answer(completion.text).answer
    citations, method = cite(raw, sources)
    ctx.record(
        "cite",
        name,
        {
            "method": method,
            "cited_chunk_ids": [c.chunk_id for c in citations],
            "context_chunk_ids": [s.chunk_id for s in sources],
        },
    )
    return StrategyResult(answer=strip_citations(raw), citations=citations)


async def run_rag(ctx: RunContext) -> StrategyResult:
    hits = await ctx.retrieve("retrieve", ctx.query, ctx.knowledge_bases)
    return await answer_from_hits(ctx, "rag", hits, final=True)
