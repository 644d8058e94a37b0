"""Role agents of the standard operating procedure: planner, researcher, solver, reviewer.

Each reads what it watches from the shared pool and publishes structured messages back; none of them lets a
malformed model output or a failed tool call escape as an exception.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from kaizen.reasoning.agent.calculator import is_arithmetic
from kaizen.reasoning.agent.plan import Plan, PlanError, fallback_plan, parse_plan
from kaizen.reasoning.agent.pool import Message, MessagePool
from kaizen.reasoning.agent.tools import ToolError, ToolRegistry
from kaizen.reasoning.chain import Evidence
from kaizen.reasoning.context import RunContext
from kaizen.reasoning.parsing import normalise_answer, parse_short_answer, strip_citations
from kaizen.reasoning.prompts import RenderedPrompt
from kaizen.reasoning.rag import NOT_FOUND
from kaizen.reasoning.sources import NumberedSource, cite, number_sources
from kaizen.reasoning.text import STOP_AFTER_LINE, one_line

SOLVE_MAX_NEW_TOKENS = 48
REVIEW_MAX_NEW_TOKENS = 32
_CALCULATE_LINE = re.compile(r"^\s*calculate\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_ANSWER_LINE = re.compile(r"^\s*answer\s*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_VERDICT = re.compile(r"^\s*(yes|no)\b[\s,.:;-]*(.*)$", re.IGNORECASE | re.DOTALL)


class Planner:
    name = "planner"

    async def act(self, ctx: RunContext, pool: MessagePool, *, can_research: bool) -> Plan:
        question = pool.watch("task")[0].content
        prompt = ctx.deps.prompts.render("agent_plan", question=one_line(question))
        error = None
        try:
            completion = await ctx.generate(
                "planner", prompt, stop=["\n\n", "\nTask:"], max_new_tokens=ctx.deps.plan_max_new_tokens
            )
            plan = parse_plan("1." + completion.text, max_steps=ctx.deps.agent_max_steps, can_research=can_research)
        except PlanError as exc:
            error = str(exc)
            plan = fallback_plan(question, can_research=can_research)
        steps = [s.model_dump() for s in plan.steps]
        ctx.record("plan", self.name, {"steps": steps, "fallback": plan.fallback, "error": error})
        pool.publish(Message(sender=self.name, kind="plan", content=str(steps), data={"plan": plan.model_dump()}))
        return plan


class Researcher:
    name = "researcher"

    async def act(
        self, ctx: RunContext, pool: MessagePool, tools: ToolRegistry, evidence: Evidence, queries: list[str], rnd: int
    ) -> list[str]:
        """Searches each query once; returns the ids of chunks not seen before."""
        new: list[str] = []
        for query in queries:
            try:
                result = await tools.call(ctx, "search", query)
            except ToolError as exc:
                pool.publish(Message(sender=self.name, kind="finding", content=f"search failed: {exc}", round=rnd))
                continue
            added = evidence.add(result.hits)
            new += added
            pool.publish(
                Message(
                    sender=self.name,
                    kind="finding",
                    content=f"{query}: {len(result.hits)} chunks, {len(added)} new",
                    round=rnd,
                    data={"query": query, "chunk_ids": [h.chunk.chunk_id for h in result.hits]},
                )
            )
        return new


class Draft(BaseModel):
    answer: str
    raw: str
    sources: list[NumberedSource]


class Solver:
    name = "solver"

    async def precompute(self, ctx: RunContext, pool: MessagePool, tools: ToolRegistry, plan: Plan) -> None:
        """Calculate steps the planner already wrote as plain arithmetic are run before solving."""
        for step in plan.work:
            if step.kind == "calculate" and is_arithmetic(step.task):
                result = await tools.call(ctx, "calculator", step.task)
                pool.publish(Message(sender=self.name, kind="tool_result", content=f"{step.task} = {result.output}"))

    async def act(
        self, ctx: RunContext, pool: MessagePool, tools: ToolRegistry, evidence: Evidence, plan: Plan, rnd: int
    ) -> Draft:
        sources = number_sources(evidence.ranked()[: ctx.deps.max_context_sources], ctx.deps.max_source_chars)
        notes = [s.model_dump() for s in sources]
        for i, message in enumerate(pool.watch("tool_result"), start=len(notes) + 1):
            notes.append({"number": i, "title": "calculator", "text": message.content})
        review = pool.latest("review")
        feedback = one_line(review.content) if review and not review.data.get("ok") else ""
        wants_calculation = any(s.kind == "calculate" for s in plan.work) and not pool.watch("tool_result")
        scratch = "Calculate:" if wants_calculation else "Answer:"
        question = one_line(pool.watch("task")[0].content)

        def render(scratch: str) -> RenderedPrompt:
            return ctx.deps.prompts.render(
                "agent_solve", question=question, notes=notes, feedback=feedback, scratch=scratch
            )

        completion = await ctx.generate(
            f"solver_{rnd}", render(scratch), stop=["\nResult:", *STOP_AFTER_LINE], max_new_tokens=SOLVE_MAX_NEW_TOKENS
        )
        text = scratch + completion.text
        calculation = _CALCULATE_LINE.search(text)
        if calculation and not _ANSWER_LINE.search(text):
            expression = calculation.group(1).strip()
            try:
                result = await tools.call(ctx, "calculator", expression)
                scratch = f"Calculate: {expression}\nResult: {result.output}\nAnswer:"
                pool.publish(Message(sender=self.name, kind="tool_result", content=f"{expression} = {result.output}"))
            except ToolError:
                scratch = "Answer:"  # a malformed call: answer without the tool rather than fail
            completion = await ctx.generate(
                f"solver_{rnd}_answer", render(scratch), stop=STOP_AFTER_LINE, max_new_tokens=SOLVE_MAX_NEW_TOKENS
            )
            text = scratch + completion.text
        found = list(_ANSWER_LINE.finditer(text))
        raw = found[-1].group(1) if found else parse_short_answer(completion.text).answer
        raw = parse_short_answer(raw).answer
        draft = Draft(answer=strip_citations(raw), raw=raw, sources=sources)
        pool.publish(Message(sender=self.name, kind="draft", content=draft.answer, round=rnd, data={"raw": raw}))
        return draft


class Review(BaseModel):
    ok: bool
    reason: str


class Reviewer:
    name = "reviewer"

    async def act(self, ctx: RunContext, pool: MessagePool, draft: Draft, rnd: int) -> Review:
        review = self._rules(draft) or await self._model_verdict(ctx, pool, draft, rnd)
        ctx.record("review", self.name, {"round": rnd, "ok": review.ok, "reason": review.reason})
        pool.publish(Message(sender=self.name, kind="review", content=review.reason, round=rnd, data={"ok": review.ok}))
        return review

    @staticmethod
    def _rules(draft: Draft) -> Review | None:
        answer = normalise_answer(draft.answer)
        if not answer:
            return Review(ok=False, reason="the answer is empty; answer the task in a few words")
        if answer == NOT_FOUND and draft.sources:
            return Review(ok=False, reason="the notes were not used; look for the answer in them")
        return None

    @staticmethod
    async def _model_verdict(ctx: RunContext, pool: MessagePool, draft: Draft, rnd: int) -> Review:
        if not draft.sources:
            return Review(ok=True, reason="no notes to check against")
        prompt = ctx.deps.prompts.render(
            "agent_review",
            question=one_line(pool.watch("task")[0].content),
            answer=one_line(draft.answer),
            notes=[s.model_dump() for s in draft.sources],
        )
        completion = await ctx.generate(
            f"reviewer_{rnd}", prompt, stop=["\n"], max_new_tokens=REVIEW_MAX_NEW_TOKENS, temperature=0.0
        )
        match = _VERDICT.match(completion.text)
        if match is None:
            # A reviewer that cannot state a verdict must not block the answer.
            return Review(ok=True, reason="no clear verdict")
        return Review(ok=match.group(1).lower() == "yes", reason=one_line(match.group(2)) or match.group(1))


def grounded(draft: Draft) -> bool:
    return cite(draft.raw, draft.sources)[1] != "none"
