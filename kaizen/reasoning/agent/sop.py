"""agent: a MetaGPT-style standard operating procedure over a shared message pool.

planner -> researcher (search tool) -> solver (calculator tool) -> reviewer, and the reviewer may send the work
back for another round of research and solving, up to the request's round limit.
"""

from __future__ import annotations

from kaizen.reasoning.agent.pool import Message, MessagePool
from kaizen.reasoning.agent.roles import Draft, Planner, Researcher, Reviewer, Solver, grounded
from kaizen.reasoning.agent.tools import default_tools
from kaizen.reasoning.chain import Evidence
from kaizen.reasoning.context import RunContext, StrategyResult
from kaizen.reasoning.parsing import normalise_answer
from kaizen.reasoning.sources import cite


def _final(drafts: list[tuple[Draft, bool]]) -> Draft:
    """The last draft the reviewer accepted; else the first grounded in the notes; else the last one."""
    for draft, ok in reversed(drafts):
        if ok:
            return draft
    return next((d for d, _ in drafts if grounded(d)), drafts[-1][0])


async def run_agent(ctx: RunContext) -> StrategyResult:
    question = ctx.request.question
    can_research = ctx.deps.retriever is not None and bool(ctx.knowledge_bases)
    tools = default_tools(with_search=can_research)
    pool = MessagePool()
    pool.publish(Message(sender="user", kind="task", content=question))
    evidence = Evidence()
    researcher, solver, reviewer = Researcher(), Solver(), Reviewer()

    plan = await Planner().act(ctx, pool, can_research=can_research)
    if can_research:
        # The whole question is always searched too: a tiny planner's sub-queries alone may miss.
        queries = list(dict.fromkeys([ctx.query, *(s.task for s in plan.work if s.kind == "research")]))
        await researcher.act(ctx, pool, tools, evidence, queries, 0)
    await solver.precompute(ctx, pool, tools, plan)

    drafts: list[tuple[Draft, bool]] = []
    rounds = ctx.request.options.max_rounds
    for rnd in range(rounds):
        draft = await solver.act(ctx, pool, tools, evidence, plan, rnd)
        review = await reviewer.act(ctx, pool, draft, rnd)
        drafts.append((draft, review.ok))
        if review.ok or rnd == rounds - 1:
            break
        if can_research:
            follow_up = f"{question} {review.reason}"
            if normalise_answer(draft.answer) not in ("", "unknown"):
                follow_up += f" {draft.answer}"
            await researcher.act(ctx, pool, tools, evidence, [follow_up], rnd + 1)

    final = _final(drafts)
    citations, method = cite(final.raw, final.sources)
    ctx.record("cite", "agent", {"method": method, "cited_chunk_ids": [c.chunk_id for c in citations]})
    reasoning = [
        f"{m.sender} ({m.kind}): {m.content}"
        for m in pool.messages
        if m.kind in ("plan", "finding", "tool_result", "draft", "review")
    ]
    return StrategyResult(answer=final.answer, reasoning=reasoning, citations=citations)
