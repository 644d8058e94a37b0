"""Self-consistency: n sampled chains of thought, majority vote on the normalised final answers."""

from __future__ import annotations

import asyncio
from collections import Counter

from kaizen.llm.types import Completion
from kaizen.reasoning.context import RunContext, StrategyResult
from kaizen.reasoning.cot import COT_STOP, cot_prompt
from kaizen.reasoning.parsing import ParsedAnswer, normalise_answer, parse_reasoned


def majority(parsed: list[ParsedAnswer]) -> tuple[ParsedAnswer | None, Counter[str]]:
    """The first chain whose normalised answer got the most votes (ties go to the earliest sample)."""
    votes = Counter(normalise_answer(p.answer) for p in parsed if normalise_answer(p.answer))
    if not votes:
        return None, votes
    best = max(votes.values())
    for p in parsed:
        if votes.get(normalise_answer(p.answer)) == best:
            return p, votes
    return None, votes


async def run_self_consistency(ctx: RunContext, samples: int) -> StrategyResult:
    prompt = await cot_prompt(ctx)
    # Greedy decoding would give n identical chains; sampling is the point.
    temperature = max(ctx.request.options.temperature, ctx.deps.sample_temperature)
    outcomes = await asyncio.gather(
        *(ctx.generate(f"sample_{i}", prompt, stop=COT_STOP, temperature=temperature, seed=i) for i in range(samples)),
        return_exceptions=True,
    )
    completions = [o for o in outcomes if isinstance(o, Completion)]
    failures = [f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)]
    if not completions:
        raise RuntimeError(f"all {samples} sampled chains failed: {failures[0]}")
    parsed = [parse_reasoned(c.text) for c in completions]
    winner, votes = majority(parsed)
    ctx.record(
        "vote",
        "majority",
        {
            "samples": samples,
            "failed_samples": failures,
            "votes": dict(votes.most_common()),
            "winner": normalise_answer(winner.answer) if winner else None,
        },
    )
    if winner is None:
        return StrategyResult(answer="", reasoning=[])
    return StrategyResult(answer=winner.answer, reasoning=winner.reasoning)
