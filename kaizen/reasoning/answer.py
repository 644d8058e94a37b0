"""The entry point the serving service calls: one request in, one response out, never an exception for a model
or tool failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from kaizen.events import MAX_TEXT, InteractionRequest, InteractionResponse, Mode
from kaizen.llm.types import OnDelta
from kaizen.reasoning.agent.sop import run_agent
from kaizen.reasoning.auto import choose
from kaizen.reasoning.chain import run_chain
from kaizen.reasoning.context import RunContext, StrategyResult
from kaizen.reasoning.cot import run_cot
from kaizen.reasoning.deps import ReasoningDeps
from kaizen.reasoning.direct import run_direct
from kaizen.reasoning.rag import run_rag
from kaizen.reasoning.self_consistency import run_self_consistency
from kaizen.reasoning.stream import AnswerStream

Strategy = Callable[[RunContext], Awaitable[StrategyResult]]


def _strategy(ctx: RunContext, name: str) -> Strategy:
    if name == "self_consistency":
        samples = ctx.request.options.self_consistency or ctx.deps.self_consistency_samples
        return lambda c: run_self_consistency(c, samples)
    return {"direct": run_direct, "cot": run_cot, "rag": run_rag, "chain": run_chain, "agent": run_agent}[name]


def _resolve(ctx: RunContext) -> str:
    mode = ctx.request.mode
    if mode == Mode.auto:
        return choose(ctx).strategy
    if mode == Mode.cot and ctx.request.options.self_consistency > 0:
        return "self_consistency"
    return mode.value


async def answer(
    request: InteractionRequest,
    deps: ReasoningDeps,
    *,
    adapter: str | None = None,
    on_delta: OnDelta | None = None,
) -> InteractionResponse:
    """Answers one request with the strategy its mode names (auto picks one); failures land in ``error``.

    ``on_delta`` (called on the event loop) receives the answer as it is decoded; the pieces join to the answer."""
    stream = AnswerStream(on_delta) if on_delta is not None else None
    ctx = RunContext(request=request, deps=deps, adapter=adapter or request.options.adapter, stream=stream)
    strategy = request.mode.value
    result = StrategyResult(answer="")
    error = None
    try:
        strategy = _resolve(ctx)
        result = await asyncio.wait_for(_strategy(ctx, strategy)(ctx), deps.timeout_s)
    except TimeoutError:
        error = f"{strategy} timed out after {deps.timeout_s} s"
    except Exception as exc:  # a model, store or tool failure becomes the response's error, never a crash
        error = f"{strategy} failed: {type(exc).__name__}: {exc}"
    if error:
        ctx.record("error", strategy, {"error": error})
    elif stream is not None:
        stream.finish(result.answer[:MAX_TEXT])
    return InteractionResponse(
        request_id=request.event_id,
        response_id=InteractionResponse.response_id_for(request.event_id),
        tenant=request.tenant,
        user_id=request.user_id,
        question=request.question,
        mode=request.mode,
        strategy=strategy,
        answer=result.answer[:MAX_TEXT],
        reasoning=[step[:MAX_TEXT] for step in result.reasoning],
        citations=result.citations,
        retrieved_chunk_ids=list(ctx.retrieved),
        trace=ctx.trace,
        adapter_version=ctx.adapter_version or ctx.adapter,
        prompt_version=",".join(ctx.prompt_refs) or None,
        latency_ms=round(ctx.elapsed_ms(), 3),
        session_id=request.session_id,
        system=request.system,
        history=request.history,
        error=error,
    )
