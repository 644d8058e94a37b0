"""One batch of generation, written by hand: a left-padded prefill, then one step at a time on the KV cache.

Written by hand rather than with ``model.generate`` because each row needs its own stop strings, token budget,
temperature, seed and adapter, and a row that finishes leaves the batch (its cache rows are dropped) at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch

from kaizen.llm.model import LoadedModel
from kaizen.llm.types import Completion, FinishReason, OnDelta, Timings

BASE_ADAPTER = "__base__"


@dataclass
class Request:
    """One generation request, from the moment it is queued until its future is resolved."""

    prompt: object  # kaizen.llm.types.Prompt; encoded by the worker, not on the event loop
    max_new_tokens: int
    temperature: float
    stop: list[str]
    adapter: str  # BASE_ADAPTER or a loaded adapter's version
    seed: int | None
    future: Future[Completion]
    on_delta: OnDelta | None = None
    submitted: float = field(default_factory=time.perf_counter)


@dataclass
class Row:
    """A request's state inside a running batch."""

    request: Request
    prompt_ids: list[int]
    budget: int
    started: float
    generator: torch.Generator | None = None
    generated: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: FinishReason = "length"
    done: bool = False
    emitted: int = 0  # characters of text already handed to ``on_delta``

    def finish(self, reason: FinishReason) -> None:
        self.finish_reason, self.done = reason, True
        self.emit(self.text, final=True)

    def emit(self, text: str, *, final: bool = False) -> None:
        """Hand ``on_delta`` the new part of ``text``, holding back what could still become a stop string."""
        callback = self.request.on_delta
        if callback is None:
            return
        hold = 0 if final else max((len(s) - 1 for s in self.request.stop), default=0)
        # a partial multi-byte character decodes to U+FFFD until its last byte arrives
        end = len(text) if final else len(text.rstrip("\ufffd"))
        end = max(end - hold, self.emitted)
        if end > self.emitted:
            callback(text[self.emitted : end])
            self.emitted = end


Between = Callable[[], None]


def run_batch(
    lm: LoadedModel, rows: list[Row], between_steps: Between, on_done: Callable[[Row, Timings], None]
) -> None:
    """Generate for every row; ``on_done`` is called as each row finishes, ``between_steps`` after each step."""
    eos = set(lm.eos_ids)
    adapters = [row.request.adapter for row in rows]
    input_ids, attention_mask = _left_pad([row.prompt_ids for row in rows], lm.pad_id)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    live = list(range(len(rows)))  # indices into rows of those still generating, in cache order
    cache = None
    prefill_ms: float | None = None
    step_start = time.perf_counter()
    with torch.inference_mode():
        while live:
            scope, kwargs = _adapter_scope(lm, [adapters[i] for i in live])
            with scope:
                out = lm.model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    position_ids=position_ids,
                    past_key_values=cache,
                    use_cache=True,
                    logits_to_keep=1,
                    **kwargs,
                )
            cache = out.past_key_values
            logits = out.logits[:, -1, :].float()
            now = time.perf_counter()
            if prefill_ms is None:
                prefill_ms = (now - step_start) * 1000
            next_tokens = [_choose(logits[pos], rows[i]) for pos, i in enumerate(live)]
            for pos, i in enumerate(live):
                _advance(lm, rows[i], next_tokens[pos], eos)
                if rows[i].done:
                    on_done(rows[i], _timings(rows[i], prefill_ms, now))
            keep = [pos for pos, i in enumerate(live) if not rows[i].done]
            if len(keep) < len(live) and keep:
                index = torch.tensor(keep)
                cache.batch_select_indices(index)
                attention_mask = attention_mask[index]
                position_ids = position_ids[index]
                next_tokens = [next_tokens[pos] for pos in keep]
            live = [live[pos] for pos in keep]
            if not live:
                break
            input_ids = torch.tensor(next_tokens, dtype=torch.long).unsqueeze(1)
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(live), 1))], dim=1)
            position_ids = position_ids[:, -1:] + 1
            between_steps()


def _left_pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        input_ids[row, width - len(sequence) :] = torch.tensor(sequence, dtype=torch.long)
        attention_mask[row, width - len(sequence) :] = 1
    return input_ids, attention_mask


def _adapter_scope(lm: LoadedModel, names: list[str]) -> tuple[AbstractContextManager[object], dict[str, list[str]]]:
    """How to run one step for rows using ``names``: (a context to run it in, extra forward arguments).

    peft's per-row ``adapter_names`` routes every LoRA layer row by row, which doubled decode time in the demo
    (measured); a batch on one adapter, the usual case, runs that adapter (or none) directly instead. Safe because
    only the engine's worker thread runs the model.
    """
    model = lm.model
    if not hasattr(model, "peft_config"):
        return nullcontext(), {}  # a bare base model serves every row as "__base__"
    if len(set(names)) > 1:
        return nullcontext(), {"adapter_names": names}
    if names[0] == BASE_ADAPTER:
        return model.disable_adapter(), {}
    if model.active_adapter != names[0]:
        model.set_adapter(names[0])
    return nullcontext(), {}


def _choose(logits: torch.Tensor, row: Row) -> int:
    temperature = row.request.temperature
    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=row.generator))


def _advance(lm: LoadedModel, row: Row, token: int, eos: set[int]) -> None:
    if token in eos:
        row.text = _decode(lm, row.generated)
        row.finish("stop")
        return
    row.generated.append(token)
    if row.request.stop or row.request.on_delta is not None:
        text = _decode(lm, row.generated)
        cut = _first_stop(text, row.request.stop)
        if cut is not None:
            row.text = text[:cut]
            row.finish("stop")
            return
        row.emit(text)
    if len(row.generated) >= row.budget:
        row.text = _decode(lm, row.generated)
        row.finish("length")


def _decode(lm: LoadedModel, tokens: list[int]) -> str:
    return lm.tokenizer.decode(tokens, skip_special_tokens=True)


def _first_stop(text: str, stops: list[str]) -> int | None:
    found = [text.find(s) for s in stops if s]
    found = [i for i in found if i >= 0]
    return min(found) if found else None


def _timings(row: Row, prefill_ms: float, now: float) -> Timings:
    queue_ms = (row.started - row.request.submitted) * 1000
    total_ms = (now - row.request.submitted) * 1000
    return Timings(
        queue_ms=queue_ms,
        prefill_ms=prefill_ms,
        decode_ms=max(total_ms - queue_ms - prefill_ms, 0.0),
        total_ms=total_ms,
    )
