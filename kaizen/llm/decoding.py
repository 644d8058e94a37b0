"""One row of generation: its request, the tokens chosen for it, its text decoded incrementally, its stop checks.

Written by hand rather than with ``model.generate`` because each row needs its own stop strings, token budget,
temperature, seed and adapter, and joins or leaves the running batch at any step (kaizen/llm/batch.py).
"""

from __future__ import annotations

import time
from concurrent.futures import Future
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
    """A request's state while it waits for room and then decodes in the running batch."""

    request: Request
    prompt_ids: list[int]
    budget: int
    virtual: int = 0  # cache positions its adapter takes before the prompt (P-tuning, prefix tuning)
    started: float = 0.0  # when its prefill began
    generator: torch.Generator | None = None
    generated: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: FinishReason = "length"
    done: bool = False
    emitted: int = 0  # characters of text already handed to ``on_delta``
    prefill_ms: float = 0.0
    peak_batch: int = 1  # the most rows it shared a forward pass with (itself included)
    # incremental detokenization: text of generated[_prefix:_read] is already in ``text``
    _prefix: int = 0
    _read: int = 0

    @property
    def reserved_tokens(self) -> int:
        """Cache positions this row may occupy before it ends."""
        return self.virtual + len(self.prompt_ids) + self.budget

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

    def timings(self, now: float) -> Timings:
        queue_ms = (self.started - self.request.submitted) * 1000
        total_ms = (now - self.request.submitted) * 1000
        return Timings(
            queue_ms=queue_ms,
            prefill_ms=self.prefill_ms,
            decode_ms=max(total_ms - queue_ms - self.prefill_ms, 0.0),
            total_ms=total_ms,
        )


def choose(logits: torch.Tensor, rows: list[Row]) -> tuple[torch.Tensor, list[int]]:
    """The next token of every row, chosen on the logits' device; one host transfer for the whole step."""
    chosen = torch.argmax(logits, dim=-1)
    for index, row in enumerate(rows):
        temperature = row.request.temperature
        if temperature > 0:
            probs = torch.softmax(logits[index].float() / temperature, dim=-1)
            chosen[index] = torch.multinomial(probs, 1, generator=row.generator)[0]
    return chosen, chosen.tolist()


def advance(lm: LoadedModel, row: Row, token: int, eos: set[int]) -> None:
    """Append ``token`` to ``row`` and finish it on end of turn, a stop string or its budget."""
    if token in eos:
        row.text = decode(lm, row.generated)
        row.finish("stop")
        return
    row.generated.append(token)
    stops = row.request.stop
    if stops or row.request.on_delta is not None:
        piece = _next_piece(lm, row)
        if piece:
            longest = max((len(s) for s in stops), default=1)
            start = max(len(row.text) - longest + 1, 0)  # only a stop ending in the new piece can be new
            row.text += piece
            cut = first_stop(row.text, stops, start)
            if cut is not None:
                row.text = row.text[:cut]
                row.finish("stop")
                return
            row.emit(row.text)
    if len(row.generated) >= row.budget:
        row.text = decode(lm, row.generated)
        row.finish("length")


def _next_piece(lm: LoadedModel, row: Row) -> str:
    """The text the newest tokens add, decoded over a short window of the last tokens only.

    Decoding a window (rather than a lone token) keeps what depends on neighbours right: spaces a tokenizer
    strips at the start of a text, and characters whose bytes span several tokens (held back until complete).
    """
    window = row.generated[row._prefix :]
    before = decode(lm, row.generated[row._prefix : row._read])
    after = decode(lm, window)
    if len(after) <= len(before) or after.endswith("\ufffd"):
        return ""
    row._prefix, row._read = row._read, len(row.generated)
    return after[len(before) :]


def decode(lm: LoadedModel, tokens: list[int]) -> str:
    return lm.tokenizer.decode(tokens, skip_special_tokens=True)


def first_stop(text: str, stops: list[str], start: int = 0) -> int | None:
    found = [text.find(s, start) for s in stops if s]
    found = [i for i in found if i >= 0]
    return min(found) if found else None
