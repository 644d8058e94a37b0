"""chain: a retrieval chain — retrieve, draft, derive new queries from the draft and open sub-questions, retrieve
again (possibly from further knowledge bases), until nothing new turns up or the round limit."""

from __future__ import annotations

import re

from kaizen.reasoning.context import RunContext, StrategyResult
from kaizen.reasoning.parsing import normalise_answer, parse_short_answer
from kaizen.reasoning.rag import NOT_FOUND, answer_from_hits
from kaizen.reasoning.text import STOP_AFTER_LINE, one_line
from kaizen.retrieval.types import SearchHit

FOLLOWUP_MAX_NEW_TOKENS = 24
# Reciprocal-rank fusion constant: chunks that several hops agree on rise to the top of the final context.
RRF_K = 60
_SUBQUESTION_SPLIT = re.compile(r"\?\s+|;\s+|,?\s+and\s+(?=(?:what|who|when|where|which|how|why)\b)", re.I)


def sub_questions(question: str) -> list[str]:
    """Parts of a compound question ("Who leads X and when was it founded?") worth searching on their own."""
    parts = [p.strip(" ?") for p in _SUBQUESTION_SPLIT.split(question) if p and p.strip(" ?")]
    return parts if len(parts) > 1 else []


class Evidence:
    """Every chunk found so far, ordered by reciprocal-rank fusion over all queries."""

    def __init__(self) -> None:
        self.hits: dict[str, SearchHit] = {}
        self.fused: dict[str, float] = {}

    def add(self, hits: list[SearchHit]) -> list[str]:
        new = []
        for rank, hit in enumerate(hits):
            chunk_id = hit.chunk.chunk_id
            if chunk_id not in self.hits:
                new.append(chunk_id)
                self.hits[chunk_id] = hit
            self.fused[chunk_id] = self.fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        return new

    def ranked(self) -> list[SearchHit]:
        return [self.hits[c] for c in sorted(self.fused, key=lambda c: -self.fused[c])]


async def _followups(ctx: RunContext, draft: str, round_no: int, asked: set[str]) -> list[str]:
    question = one_line(ctx.request.question)
    prompt = ctx.deps.prompts.render("chain_followup", question=question, draft=one_line(draft) or NOT_FOUND)
    completion = await ctx.generate(
        f"followup_{round_no}", prompt, stop=STOP_AFTER_LINE, max_new_tokens=FOLLOWUP_MAX_NEW_TOKENS
    )
    candidates = [parse_short_answer(completion.text).answer]
    if draft and normalise_answer(draft) not in ("", NOT_FOUND):
        # The draft names entities the question did not: searching on them finds the next hop (ITER-RETGEN).
        candidates.append(f"{question} {one_line(draft)}")
    candidates.extend(sub_questions(question))
    queries = []
    for query in candidates:
        key = normalise_answer(query)
        if key and key not in asked:
            asked.add(key)
            queries.append(query)
    return queries


async def run_chain(ctx: RunContext) -> StrategyResult:
    primary = ctx.knowledge_bases
    wider = primary + [kb for kb in ctx.deps.chain_knowledge_bases if kb not in primary]
    evidence = Evidence()
    queries = [ctx.query]
    asked = {normalise_answer(ctx.query)}
    result = StrategyResult(answer=NOT_FOUND)
    max_rounds = ctx.request.options.max_rounds
    stop_reason = "round limit"
    drafts: list[str] = []
    for round_no in range(1, max_rounds + 1):
        knowledge_bases = primary if round_no == 1 else wider
        started = ctx.elapsed_ms()
        new: list[str] = []
        for query in queries:
            new += evidence.add(await ctx.retrieve(f"hop_{round_no}", query, knowledge_bases))
        ctx.record(
            "hop",
            f"round_{round_no}",
            {"queries": queries, "knowledge_bases": knowledge_bases, "new_chunk_ids": new},
            started,
        )
        if round_no > 1 and not new:
            stop_reason = "nothing new"
            break
        result = await answer_from_hits(ctx, f"draft_{round_no}", evidence.ranked())
        cited = ", ".join(c.chunk_id for c in result.citations) or "none"
        drafts.append(f"round {round_no}: {result.answer} (cites {cited})")
        if round_no == max_rounds:
            break
        queries = await _followups(ctx, result.answer, round_no, asked)
        if not queries:
            stop_reason = "no new queries"
            break
    ctx.record("chain_end", stop_reason, {"rounds": round_no, "chunks": len(evidence.hits)})
    return result.model_copy(update={"reasoning": drafts})
