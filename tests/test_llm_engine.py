"""The generation engine on the tiny model: batching, per-row controls, errors isolated to their request."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch

from kaizen.llm.engine import GenerationEngine
from kaizen.llm.types import LLM, ChatMessage, GenerationError

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a land far away,",
    "Water boils at",
    "北京是",
    "Deploy 🚀",
]


async def test_engine_implements_the_llm_protocol(tiny_engine: GenerationEngine) -> None:
    assert isinstance(tiny_engine, LLM)
    completion = await tiny_engine.generate("The capital of France is", max_new_tokens=5)
    assert len(completion.tokens) == 5 and completion.finish_reason == "length"
    assert completion.text == tiny_engine.lm.tokenizer.decode(completion.tokens, skip_special_tokens=True)
    assert completion.prompt_tokens == 6
    assert completion.adapter_version is None
    timings = completion.timings
    assert timings.prefill_ms > 0 and timings.decode_ms > 0
    assert timings.total_ms >= timings.queue_ms + timings.prefill_ms


async def test_greedy_matches_bare_model_generate(tiny_engine: GenerationEngine) -> None:
    lm = tiny_engine.lm
    completion = await tiny_engine.generate(PROMPTS[2], max_new_tokens=12)
    ids = lm.tokenizer(PROMPTS[2], return_tensors="pt")
    with torch.inference_mode():
        out = lm.model.generate(**ids, max_new_tokens=12, do_sample=False, eos_token_id=lm.eos_ids, pad_token_id=0)
    assert completion.tokens == out[0, ids.input_ids.shape[1] :].tolist()


async def test_concurrent_requests_batch_and_equal_unbatched(tiny_engine: GenerationEngine) -> None:
    alone = [await tiny_engine.generate(p, max_new_tokens=10) for p in PROMPTS]
    assert all(c.batch_size == 1 for c in alone)
    together = await asyncio.gather(*(tiny_engine.generate(p, max_new_tokens=10) for p in PROMPTS))
    assert max(c.batch_size for c in together) > 1
    assert [c.tokens for c in together] == [c.tokens for c in alone]
    assert len({tuple(c.tokens) for c in alone}) > 1  # the prompts really lead to different outputs


async def test_rows_have_their_own_budget_and_finish_early(tiny_engine: GenerationEngine) -> None:
    budgets = [1, 4, 9]
    results = await asyncio.gather(*(tiny_engine.generate(PROMPTS[0], max_new_tokens=n) for n in budgets))
    assert [len(c.tokens) for c in results] == budgets
    assert results[2].tokens[:4] == results[1].tokens


async def test_stop_string_cuts_text_and_reports_stop(tiny_engine: GenerationEngine) -> None:
    full = await tiny_engine.generate(PROMPTS[1], max_new_tokens=8)
    tokenizer = tiny_engine.lm.tokenizer
    marker = tokenizer.decode(full.tokens[3:5], skip_special_tokens=True)
    assert marker
    cut = await tiny_engine.generate(PROMPTS[1], max_new_tokens=8, stop=[marker])
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.index(marker)]
    assert len(cut.tokens) <= 5


async def test_eos_ends_a_row_with_stop(tiny_engine: GenerationEngine) -> None:
    lm = tiny_engine.lm
    first = (await tiny_engine.generate(PROMPTS[3], max_new_tokens=1)).tokens[0]
    lm.eos_ids.append(first)  # make the model's next greedy token an end of turn
    try:
        completion = await tiny_engine.generate(PROMPTS[3], max_new_tokens=5)
    finally:
        lm.eos_ids.remove(first)
    assert completion.finish_reason == "stop" and completion.tokens == [] and completion.text == ""


async def test_sampling_is_reproducible_with_a_seed(tiny_engine: GenerationEngine) -> None:
    runs = await asyncio.gather(
        *(tiny_engine.generate(PROMPTS[0], max_new_tokens=8, temperature=1.5, seed=s) for s in (7, 7, 8))
    )
    assert runs[0].tokens == runs[1].tokens
    assert runs[0].tokens != runs[2].tokens


async def test_chat_messages_use_the_chat_template(tiny_engine: GenerationEngine) -> None:
    chat = [ChatMessage(role="user", content="Hi")]
    completion = await tiny_engine.generate(chat, max_new_tokens=2)
    rendered = "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    plain = tiny_engine.lm.tokenizer(rendered, add_special_tokens=False).input_ids
    assert completion.prompt_tokens == len(plain)


@pytest.mark.parametrize(
    ("prompt", "kwargs", "message"),
    [
        ("", {}, "empty prompt"),
        ("   \n", {}, "empty prompt"),
        ([], {}, "empty prompt"),
        ("hello", {"adapter": "nope"}, "unknown adapter 'nope'"),
        ("hello", {"max_new_tokens": 0}, "max_new_tokens"),
        ("hello", {"temperature": -1.0}, "temperature"),
    ],
)
async def test_bad_requests_get_clear_errors(
    tiny_engine: GenerationEngine, prompt: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(GenerationError, match=message):
        await tiny_engine.generate(prompt, **kwargs)  # type: ignore[arg-type]


async def test_failing_requests_never_fail_their_batch_mates(tiny_engine: GenerationEngine) -> None:
    too_long = "word " * (tiny_engine.lm.context_length + 10)
    bad_chat = [ChatMessage(role="assistant", content="starts with the model")]
    expected = await tiny_engine.generate(PROMPTS[0], max_new_tokens=6)
    results = await asyncio.gather(
        tiny_engine.generate(PROMPTS[0], max_new_tokens=6),
        tiny_engine.generate(too_long, max_new_tokens=6),
        tiny_engine.generate(bad_chat, max_new_tokens=6),
        tiny_engine.generate(PROMPTS[0], max_new_tokens=6),
        return_exceptions=True,
    )
    assert isinstance(results[1], GenerationError) and "context" in str(results[1])
    assert isinstance(results[2], GenerationError) and "chat" in str(results[2])
    assert results[0].tokens == expected.tokens and results[3].tokens == expected.tokens  # type: ignore[union-attr]


async def test_a_crash_inside_a_batch_is_retried_row_by_row(tiny_engine: GenerationEngine) -> None:
    lm = tiny_engine.lm
    expected = await tiny_engine.generate(PROMPTS[0], max_new_tokens=4)
    real_forward = lm.model.forward

    def forward_failing_on_batches(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["input_ids"].shape[0] > 1:
            raise RuntimeError("simulated kernel failure")
        return real_forward(*args, **kwargs)

    lm.model.forward = forward_failing_on_batches
    try:
        results = await asyncio.gather(*(tiny_engine.generate(PROMPTS[0], max_new_tokens=4) for _ in range(3)))
    finally:
        del lm.model.forward
    assert [c.tokens for c in results] == [expected.tokens] * 3


async def test_the_model_runs_in_the_worker_thread_not_the_loop(tiny_engine: GenerationEngine) -> None:
    seen: list[str] = []
    real_forward = tiny_engine.lm.model.forward

    def recording_forward(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return real_forward(*args, **kwargs)

    tiny_engine.lm.model.forward = recording_forward
    try:
        await tiny_engine.generate(PROMPTS[0], max_new_tokens=3)
    finally:
        del tiny_engine.lm.model.forward
    assert seen and set(seen) == {"kaizen-llm-worker"}


def test_sync_complete_for_scripts(tiny_engine: GenerationEngine) -> None:
    assert len(tiny_engine.complete(PROMPTS[0], max_new_tokens=3).tokens) == 3


def test_an_unstarted_engine_says_so(tiny_lm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError, match="not started"):
        GenerationEngine(tiny_lm).complete("hello")


async def test_deltas_arrive_as_decoded_and_join_to_the_text(tiny_engine: GenerationEngine) -> None:
    threads: set[str] = set()
    for prompt in PROMPTS:
        pieces: list[str] = []

        def on_delta(piece: str, pieces: list[str] = pieces) -> None:
            threads.add(threading.current_thread().name)
            pieces.append(piece)

        completion = await tiny_engine.generate(prompt, max_new_tokens=12, on_delta=on_delta)
        assert "".join(pieces) == completion.text
        assert all(pieces) and "\ufffd" not in "".join(pieces)
        assert threads <= {"kaizen-llm-worker"}
    pieces = []
    whole = await tiny_engine.generate(PROMPTS[2], max_new_tokens=12)
    stop = whole.text[len(whole.text) // 2 :][:3]
    cut = await tiny_engine.generate(PROMPTS[2], max_new_tokens=12, stop=[stop], on_delta=pieces.append)
    assert "".join(pieces) == cut.text and stop not in cut.text and len(pieces) > 1
