"""cot: few-shot chain of thought from <input, reasoning, output> exemplars chosen per question."""

from __future__ import annotations

from kaizen.reasoning.context import RunContext, StrategyResult
from kaizen.reasoning.exemplars import SEED_FILE, Exemplar, read_exemplars
from kaizen.reasoning.parsing import answer_line, parse_reasoned
from kaizen.reasoning.prompts import RenderedPrompt
from kaizen.reasoning.text import STOP_AFTER_LINE, one_line

COT_STOP = STOP_AFTER_LINE


async def choose_exemplars(ctx: RunContext) -> list[Exemplar]:
    k = ctx.deps.cot_exemplars
    started = ctx.elapsed_ms()
    pool = ctx.deps.exemplars
    if pool is None:
        # Without a pool (no embedder configured) the first seeds still teach the format.
        chosen, how = read_exemplars(SEED_FILE)[:k], "seed_order"
    else:
        chosen = await pool.select(ctx.request.question, ctx.request.tenant, k, ctx.deps.mmr_lambda)
        how = "mmr"
    ctx.record(
        "select_exemplars",
        how,
        {"k": k, "exemplar_ids": [e.exemplar_id for e in chosen], "lambda": ctx.deps.mmr_lambda},
        started,
    )
    return chosen


async def cot_prompt(ctx: RunContext) -> RenderedPrompt:
    exemplars = await choose_exemplars(ctx)
    return ctx.deps.prompts.render(
        "cot",
        question=one_line(ctx.request.question),
        exemplars=[
            {"input": one_line(e.input), "reasoning": one_line(e.reasoning), "output": one_line(e.output)}
            for e in exemplars
        ],
        **ctx.conversation(),
    )


def answer_so_far(text: str) -> str:
    """The answer line's text once the model has written ``Answer:``; the reasoning before it is not streamed."""
    return parse_reasoned(text).answer if answer_line(text) else ""


async def run_cot(ctx: RunContext) -> StrategyResult:
    prompt = await cot_prompt(ctx)
    completion = await ctx.generate("cot", prompt, stop=COT_STOP, answer=answer_so_far)
    parsed = parse_reasoned(completion.text)
    ctx.record("parse", "cot", {"followed_format": parsed.followed_format, "answer": parsed.answer})
    return StrategyResult(answer=parsed.answer, reasoning=parsed.reasoning)
