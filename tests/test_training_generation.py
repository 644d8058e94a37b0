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


def test_an_exam_over_the_memory_cap_fails_and_its_engine_stops(tiny_lm_dir: Path) -> None:
    import threading

    import torch

    from kaizen.training.memory import MemoryCapExceeded, MemoryGuard

    lm = exam_model(tiny_lm_dir)
    prompts = [f"Question: what is {i} plus {i}?\nAnswer:" for i in range(40)]
    with MemoryGuard(1, interval=0.01) as guard:
        ballast = torch.ones(64 * 2**20 // 4)  # 64 MB more than when the guard started
        guard.sample()
        with pytest.raises(MemoryCapExceeded, match="KAIZEN_RETRAIN_MEMORY_MB"):
            complete_all(lm, prompts, max_new_tokens=8, batch_size=2)
        del ballast
    assert not [t for t in threading.enumerate() if t.name == "kaizen-llm-worker"]
