"""direct: the question alone, closed book."""

from __future__ import annotations

from kaizen.reasoning.context import RunContext, StrategyResult
from kaizen.reasoning.parsing import parse_short_answer
from kaizen.reasoning.text import STOP_AFTER_LINE, one_line

DIRECT_MAX_NEW_TOKENS = 48


async def run_direct(ctx: RunContext) -> StrategyResult:
    prompt = ctx.deps.prompts.render("direct", question=one_line(ctx.request.question), **ctx.conversation())
    completion = await ctx.generate(
        "direct", prompt, stop=STOP_AFTER_LINE, max_new_tokens=DIRECT_MAX_NEW_TOKENS, answer=_answer
    )
    return StrategyResult(answer=_answer(completion.text))


def _answer(text: str) -> str:
    return parse_short_answer(text).answer
