"""Evaluation's generation: greedy answers through the serving engine, its decoding loop, dtype and adapter loader.

The gate must score what serving will answer. So an exam runs the base model in serving's dtype on serving's
device (``Settings.model_dtype``, ``Settings.device``), with the adapter installed by serving's loader
(kaizen.llm.adapters), decoded by a ``GenerationEngine`` with serving's stop strings: the answers are serving's,
token for token. Prefix tuning and P-tuning change the sequence the engine's KV cache holds; until the engine
decodes them, they are scored with transformers' ``generate`` (same prompts, stop tokens and stop strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

import torch
from peft import PeftModel

from kaizen.config import get_settings
from kaizen.llm.adapters import load_adapter
from kaizen.llm.device import resolve_device, resolve_dtype
from kaizen.llm.engine import GenerationEngine
from kaizen.llm.model import LoadedModel, load_model
from kaizen.llm.types import Completion
from kaizen.reasoning.text import STOP_AFTER_LINE
from kaizen.training.memory import check_memory
from kaizen.training.prompting import cut_at_stop

# Requests queued in the engine beyond its batch: enough to refill rows as they finish, few enough that a memory
# cap hit (checked between answers) stops the exam after these.
_AHEAD = 2


def exam_runtime() -> str:
    """What decides an exam's answers besides the weights: the decoding path and the dtype serving runs in."""
    settings = get_settings()
    dtype = resolve_dtype(settings.model_dtype, resolve_device(settings.device))
    return f"engine:{str(dtype).removeprefix('torch.')}"


def exam_model(model_dir: Path, adapter_dir: Path | None = None) -> LoadedModel:
    """A fresh base model as serving runs it, with ``adapter_dir`` (None: none) installed as serving installs it."""
    settings = get_settings()
    lm = load_model(Path(model_dir), settings.model_dtype, device=settings.device)
    if adapter_dir is not None:
        lm.model = load_adapter(lm.model, Path(adapter_dir))
    return lm


def generate_answers(
    lm: LoadedModel, prompts: Sequence[str], *, max_new_tokens: int = 48, batch_size: int = 8
) -> list[str]:
    """Greedy completions, one per prompt, in order, cut where serving stops."""
    if _prompt_learning(lm.model):
        return _generate_with_hf(lm, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    return [c.text for c in complete_all(lm, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)]


def complete_all(
    lm: LoadedModel, prompts: Sequence[str], *, max_new_tokens: int = 48, batch_size: int = 8
) -> list[Completion]:
    """The engine's completions of ``prompts`` (continuously batched, ``batch_size`` rows at most), in order.

    The model's own adapter (a peft model's active one) answers; a model without one answers as the base.
    """
    engine = GenerationEngine(
        lm, max_batch_size=batch_size, batch_window_ms=0.0, kv_cache_mb=get_settings().kv_cache_mb
    )
    adapter = lm.model.active_adapter if isinstance(lm.model, PeftModel) else None
    # Shortest first: rows prefilled together pad little, and rows of a batch end close together.
    order = iter(sorted(range(len(prompts)), key=lambda i: len(prompts[i])))
    running: dict[Future[Completion], int] = {}
    done: dict[int, Completion] = {}
    with engine:
        if adapter is not None:
            engine.add_adapter(adapter, lambda model: model)  # already installed: the engine only learns its name

        def submit(index: int) -> None:
            future = engine.submit(prompts[index], max_new_tokens=max_new_tokens, stop=STOP_AFTER_LINE, adapter=adapter)
            running[future] = index

        try:
            for _ in range(batch_size * _AHEAD):
                if (index := next(order, None)) is not None:
                    submit(index)
            while running:
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                check_memory()
                for future in finished:
                    done[running.pop(future)] = future.result()
                    if (index := next(order, None)) is not None:
                        submit(index)
        finally:
            for future in running:
                future.cancel()  # those not started yet; the engine finishes the others before it closes
    return [done[i] for i in range(len(prompts))]


def _prompt_learning(model: object) -> bool:
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


@torch.inference_mode()
def _generate_with_hf(lm: LoadedModel, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int) -> list[str]:
    tokenizer, model = lm.tokenizer, lm.model
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    answers: dict[int, str] = {}
    for start in range(0, len(order), batch_size):
        check_memory()
        members = order[start : start + batch_size]
        rows = [encoded[i] for i in members]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), lm.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):  # left padding: every prompt ends where generation starts
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        out = model.generate(
            input_ids=ids.to(lm.device),
            attention_mask=mask.to(lm.device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=lm.pad_id,
            eos_token_id=lm.eos_ids,
            stop_strings=STOP_AFTER_LINE,
            tokenizer=tokenizer,
        )
        texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        answers.update(zip(members, texts, strict=True))
    return [cut_at_stop(answers[i]) for i in range(len(prompts))]
