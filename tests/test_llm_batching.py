"""Continuous batching on the tiny model: requests join a running batch mid-stream and leave it when done."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

import pytest

from kaizen.llm.engine import GenerationEngine
from kaizen.llm.types import Completion, GenerationError

LONG = "Once upon a time, in a land far away, there lived a"
SHORT = "Water boils at"
LONGER = "The history of the city begins with " + "a long and winding account " * 6


def _join_after(engine: GenerationEngine, pieces: int, prompt: str, tokens: int, sink: list[Future[Completion]]):  # type: ignore[no-untyped-def]
    """An on_delta that submits ``prompt`` once the streaming row has produced ``pieces`` pieces (mid-stream)."""
    seen = [0]

    def on_delta(_piece: str) -> None:
        seen[0] += 1
        if seen[0] == pieces:
            sink.append(engine.submit(prompt, max_new_tokens=tokens))

    return on_delta


async def test_a_request_arriving_mid_batch_joins_it_and_leaves_first(tiny_engine: GenerationEngine) -> None:
    long_alone = await tiny_engine.generate(LONG, max_new_tokens=30)
    short_alone = await tiny_engine.generate(SHORT, max_new_tokens=5)
    joined: list[Future[Completion]] = []
    order: list[str] = []
    join = _join_after(tiny_engine, 3, SHORT, 5, joined)

    def on_delta(piece: str) -> None:
        join(piece)
        if joined and not order:
            joined[0].add_done_callback(lambda _f: order.append("short"))
            order.append("joined")

    long = tiny_engine.submit(LONG, max_new_tokens=30, on_delta=on_delta)
    long.add_done_callback(lambda _f: order.append("long"))
    result = await asyncio.wrap_future(long)
    short = joined[0].result(timeout=30)
    assert order == ["joined", "short", "long"]
    assert short.batch_size == 2 and result.batch_size == 2  # it shared decode steps with the running row
    assert short.timings.total_ms < result.timings.total_ms  # it did not wait for the batch to end
    assert short.tokens == short_alone.tokens and result.tokens == long_alone.tokens


async def test_rows_of_different_lengths_joining_mid_stream_decode_as_alone(tiny_engine: GenerationEngine) -> None:
    """Newcomers shorter and longer than the running rows (both sides padded), rows leaving in between (trimmed),
    and sequences past the tiny model's 16-token sliding window: every row's greedy tokens equal its solo run."""
    plan = [(LONG, 24), (SHORT, 6), (LONGER, 20), ("北京是", 10), ("Deploy 🚀", 14)]
    alone = [(await tiny_engine.generate(p, max_new_tokens=n)).tokens for p, n in plan]
    assert len(tiny_engine.lm.tokenizer(LONGER).input_ids) > 16
    joined: list[Future[Completion]] = []
    seen = [0]

    def on_delta(_piece: str) -> None:  # one newcomer every third piece of the first row
        seen[0] += 1
        if seen[0] % 3 == 0 and len(joined) < len(plan) - 1:
            prompt, tokens = plan[len(joined) + 1]
            joined.append(tiny_engine.submit(prompt, max_new_tokens=tokens))

    first = await tiny_engine.generate(plan[0][0], max_new_tokens=plan[0][1], on_delta=on_delta)
    rest = [f.result(timeout=60) for f in joined]
    assert len(rest) == len(plan) - 1
    assert [first.tokens, *(c.tokens for c in rest)] == alone
    assert max(c.batch_size for c in rest) >= 3


async def test_sampled_rows_joining_keep_their_seeded_tokens(tiny_engine: GenerationEngine) -> None:
    alone = await tiny_engine.generate(SHORT, max_new_tokens=8, temperature=1.2, seed=3)
    joined: list[Future[Completion]] = []
    seen = [0]

    def on_delta(_piece: str) -> None:
        seen[0] += 1
        if seen[0] == 2:
            joined.append(tiny_engine.submit(SHORT, max_new_tokens=8, temperature=1.2, seed=3))

    await tiny_engine.generate(LONG, max_new_tokens=20, temperature=0.7, seed=1, on_delta=on_delta)
    assert joined[0].result(timeout=30).tokens == alone.tokens


async def test_window_batching_makes_a_newcomer_wait_for_the_batch(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    with GenerationEngine(tiny_lm, batching="window", batch_window_ms=5) as engine:
        joined: list[Future[Completion]] = []
        long = await engine.generate(LONG, max_new_tokens=20, on_delta=_join_after(engine, 2, SHORT, 4, joined))
        short = joined[0].result(timeout=30)
    assert long.batch_size == 1 and short.batch_size == 1
    assert short.timings.queue_ms > 0.5 * long.timings.decode_ms  # queued behind the whole running batch


async def test_kv_cache_limit_queues_rows_that_do_not_fit_and_refuses_one_that_never_can(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    per_token = tiny_lm.kv_bytes_per_token
    with GenerationEngine(tiny_lm, kv_cache_mb=40 * per_token / 2**20) as engine:  # room for 40 tokens
        with pytest.raises(GenerationError, match="KV cache"):
            await engine.generate(LONGER, max_new_tokens=30)
        prompt_tokens = len(tiny_lm.tokenizer(SHORT).input_ids)
        budget = 30 - prompt_tokens  # one row reserves 30 positions: two cannot share the cache
        results = await asyncio.gather(*(engine.generate(SHORT, max_new_tokens=budget) for _ in range(2)))
    assert [c.batch_size for c in results] == [1, 1]
    assert results[0].tokens == results[1].tokens
    assert max(c.timings.queue_ms for c in results) > 0.5 * min(c.timings.decode_ms for c in results)


async def test_stop_strings_are_checked_without_decoding_the_whole_output_each_token(
    tiny_engine: GenerationEngine,
) -> None:
    tokenizer = tiny_engine.lm.tokenizer
    lengths: list[int] = []
    real_decode = tokenizer.decode

    def counting_decode(tokens, *args, **kwargs):  # type: ignore[no-untyped-def]
        lengths.append(len(tokens))
        return real_decode(tokens, *args, **kwargs)

    tokenizer.decode = counting_decode
    try:
        completion = await tiny_engine.generate(LONG, max_new_tokens=40, stop=["never appears \x00"])
    finally:
        del tokenizer.decode
    assert len(completion.tokens) == 40
    assert completion.text == real_decode(completion.tokens, skip_special_tokens=True)
    assert sum(1 for n in lengths if n > 8) <= 1  # windows of a few tokens, one full decode at the end
