"""Evaluation's batched generation: answers in prompt order, cut where serving stops."""

from __future__ import annotations

from pathlib import Path

from kaizen.training.generation import generate_answers
from kaizen.training.models import load_model, load_tokenizer


def test_batched_answers_keep_prompt_order_and_match_one_by_one(tiny_lm_dir: Path) -> None:
    tokenizer, model = load_tokenizer(tiny_lm_dir), load_model(tiny_lm_dir)
    prompts = [
        "Question: what is the capital of Zorbia?\nAnswer:",
        "Q: x?\nA:",
        "A much longer prompt about the quick brown fox and the lazy dog, asked twice. Question: why?\nAnswer:",
        "Question: and now?\nAnswer:",
    ]
    batched = generate_answers(model, tokenizer, prompts, max_new_tokens=6, batch_size=3)
    alone = [generate_answers(model, tokenizer, [p], max_new_tokens=6)[0] for p in prompts]
    assert batched == alone
    assert all("\n\n" not in a and "\nQuestion:" not in a for a in batched)
