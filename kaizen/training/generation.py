"""Batched greedy generation for evaluation, over the same plain-text prompts serving uses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kaizen.llm.device import device_of
from kaizen.reasoning.text import STOP_AFTER_LINE
from kaizen.training.memory import check_memory
from kaizen.training.prompting import cut_at_stop


def stop_ids(tokenizer: object) -> list[int]:
    ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")}  # type: ignore[attr-defined]
    return sorted(i for i in ids if isinstance(i, int) and i >= 0)


@torch.inference_mode()
def generate_answers(
    model: nn.Module,
    tokenizer: object,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 48,
    batch_size: int = 8,
) -> list[str]:
    """Greedy completions, one per prompt, in order, cut where serving would stop.

    Generation stops where serving stops (the answer's closing blank line), not at ``max_new_tokens``: a short
    answer costs a few decode steps, not 48. Prompts are batched by length so little of a batch is padding.
    """
    model.eval()
    device = device_of(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0  # type: ignore[attr-defined]
    encoded = [tokenizer(p)["input_ids"] for p in prompts]  # type: ignore[operator]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    answers: dict[int, str] = {}
    for start in range(0, len(order), batch_size):
        check_memory()
        members = order[start : start + batch_size]
        rows = [encoded[i] for i in members]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):  # left padding: every prompt ends where generation starts
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        out = model.generate(  # type: ignore[operator]
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad_id,
            eos_token_id=stop_ids(tokenizer),
            stop_strings=STOP_AFTER_LINE,
            tokenizer=tokenizer,
        )
        texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)  # type: ignore[attr-defined]
        answers.update(zip(members, texts, strict=True))
    return [cut_at_stop(answers[i]) for i in range(len(prompts))]
