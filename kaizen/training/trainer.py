"""A plain, seeded torch loop: AdamW, gradient accumulation, optional bf16 autocast, loss on answer tokens only."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from torch import nn

from kaizen.llm.device import device_of
from kaizen.training.config import TrainingConfig
from kaizen.training.data import IGNORE, Batch, Encoded, TrainingExample, collate, encode_all, split_by_tokens
from kaizen.training.memory import check_memory

Progress = Callable[[int, int, float], None]  # (step, total steps, loss)
_BUCKET_POOL = 50  # batches per length-sorted pool: large enough to group lengths, small enough to stay random


class TrainingError(RuntimeError):
    pass


class TrainResult(BaseModel):
    steps: int
    examples_seen: int
    seconds: float
    seconds_per_step: float
    examples_per_second: float
    losses: list[float] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list, description="Examples too long for max_length.")
    trainable_parameters: int
    total_parameters: int

    @property
    def final_loss(self) -> float:
        tail = self.losses[-5:]
        return sum(tail) / len(tail) if tail else float("nan")


def answer_loss(model: nn.Module, batch: Batch, *, bf16: bool, normalizer: int | None = None) -> torch.Tensor:
    """Cross-entropy summed over answer tokens, divided by ``normalizer`` (default: their count, i.e. the mean).

    The 262k-vocabulary logits exist only for the batch's answer tail.
    """
    device = device_of(model)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(
            input_ids=batch.input_ids.to(device),
            attention_mask=batch.attention_mask.to(device),
            logits_to_keep=batch.logits_to_keep,
            use_cache=False,
        )
    logits = out.logits.float()
    labels = batch.labels.to(device).reshape(-1)
    summed = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels, ignore_index=IGNORE, reduction="sum")
    return summed / (normalizer or max(1, batch.answer_tokens))


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def planned_steps(n_examples: int, config: TrainingConfig) -> int:
    if config.steps is not None:
        return config.steps
    per_step = config.batch_size * config.grad_accum
    steps = max(1, math.ceil(config.epochs * n_examples / per_step))
    return min(steps, config.max_steps) if config.max_steps is not None else steps


def _micro_batches(items: list[Encoded], config: TrainingConfig, rng: random.Random) -> list[list[Encoded]]:
    """One epoch of batches of similar length, in random order.

    Padding is computed like any token: a 60-token instruction batched with a 900-token RAFT example costs 15x
    its own work. So each pool of shuffled examples is sorted by length before it is cut into batches.
    """
    order = items[:]
    rng.shuffle(order)
    pool = config.batch_size * _BUCKET_POOL
    batches: list[list[Encoded]] = []
    for start in range(0, len(order), pool):
        bucket = sorted(order[start : start + pool], key=lambda it: len(it.input_ids))
        batches += [bucket[i : i + config.batch_size] for i in range(0, len(bucket), config.batch_size)]
    rng.shuffle(batches)
    return batches


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Warm up linearly over ``warmup`` steps, then hold (constant) or fall linearly towards 0 (linear)."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    return max(0.0, (total - step) / max(1, total - warmup + 1))


def train(
    model: nn.Module,
    tokenizer: object,
    examples: Sequence[TrainingExample],
    config: TrainingConfig,
    *,
    progress: Progress | None = None,
) -> TrainResult:
    """Train ``model`` (already carrying its PEFT method) in place on ``examples``."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    encoded, skipped = encode_all(tokenizer, examples, max_length=config.max_length)
    if not encoded:
        raise TrainingError(f"no example fits in max_length={config.max_length} ({len(skipped)} skipped)")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("the model has no trainable parameters: attach a PEFT method first")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0  # type: ignore[attr-defined]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    total = planned_steps(len(encoded), config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, max(1, config.warmup_steps), total, config.lr_schedule)
    )

    model.train()
    losses: list[float] = []
    queue: list[list[Encoded]] = []
    seen = 0
    started = time.perf_counter()
    for step in range(total):
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(config.grad_accum):
            if not queue:
                queue = _micro_batches(encoded, config, rng)
            items = queue.pop(0)
            # The batch's mean loss, run in pieces that fit the token budget: the same gradient, less memory.
            normalizer = max(1, sum(it.answer_tokens for it in items)) * config.grad_accum
            for piece in split_by_tokens(items, config.max_batch_tokens):
                loss = answer_loss(model, collate(piece, pad_id), bf16=config.bf16, normalizer=normalizer)
                loss.backward()
                step_loss += float(loss.detach())
                check_memory()
            seen += len(items)
        if not math.isfinite(step_loss):
            raise TrainingError(f"loss became {step_loss} at step {step}: lower the learning rate")
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        losses.append(step_loss)
        if progress is not None:
            progress(step + 1, total, step_loss)
    model.eval()
    seconds = time.perf_counter() - started
    trainable, total_params = count_parameters(model)
    return TrainResult(
        steps=total,
        examples_seen=seen,
        seconds=seconds,
        seconds_per_step=seconds / total,
        examples_per_second=seen / seconds if seconds else 0.0,
        losses=losses,
        skipped=skipped,
        trainable_parameters=trainable,
        total_parameters=total_params,
    )
