"""The running batch: rows decoding together on one KV cache, joining after their prefill and leaving when done.

A newcomer is prefilled on its own (with the other newcomers of the same step), its first token chosen, and its
cache merged into the running one (kaizen/llm/kv.py); the next decode step then carries it with everyone else.
Rows stay right-aligned: each has its own position ids, and the attention mask hides every row's left padding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from kaizen.llm import kv
from kaizen.llm.decoding import Row, advance, choose
from kaizen.llm.model import LoadedModel
from kaizen.llm.prefill import prefill_inputs

if TYPE_CHECKING:
    from kaizen.llm.methods import ServedAdapters

OnDone = Callable[[Row, float], None]  # (the finished row, when it finished)


class Batch:
    def __init__(self, lm: LoadedModel, adapters: ServedAdapters) -> None:
        self.lm = lm
        self.adapters = adapters  # how each row's adapter runs (rows of one weight group: kaizen/llm/methods)
        self.rows: list[Row] = []
        self._cache: object = None
        self._mask: torch.Tensor | None = None  # [rows, sequence]: 1 for real tokens, 0 for left padding
        self._positions: torch.Tensor | None = None  # [rows]: position id of each row's next input token
        self._tokens: torch.Tensor | None = None  # [rows]: each row's next input token (chosen, not yet fed)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        """Positions of the padded cache (every row occupies the last ones)."""
        return 0 if self._mask is None else int(self._mask.shape[1])

    def reserved_tokens(self, extra: list[Row] = ()) -> int:  # type: ignore[assignment]
        """Cache positions the batch (with ``extra`` rows) may reach: rows x the longest row's reservation."""
        rows = [*self.rows, *extra]
        return len(rows) * max((r.reserved_tokens for r in rows), default=0)

    def join(self, rows: list[Row], on_done: OnDone) -> None:
        """Prefill ``rows`` and add those still generating to the batch. Raises before changing the batch."""
        device = self.lm.device
        started = time.perf_counter()
        inputs, mask, positions = prefill_inputs(self.lm, self.adapters, rows)
        scope, kwargs = self.adapters.scope(self.lm.model, [r.request.adapter for r in rows])
        with torch.inference_mode(), scope:
            out = self.lm.model(
                **inputs,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
            tokens, chosen = choose(out.logits[:, -1, :], rows)
        now = time.perf_counter()
        for row in rows:
            row.started, row.prefill_ms, row.peak_batch = started, (now - started) * 1000, len(rows)
        keep = self._advance(rows, chosen, now, on_done)
        if not keep:
            return
        cache = out.past_key_values
        index = torch.tensor(keep, device=device)
        if len(keep) < len(rows):
            cache.batch_select_indices(index)
        self._add([rows[i] for i in keep], cache, mask[index], positions[index, -1] + 1, tokens[index])

    def step(self, on_done: OnDone) -> None:
        """One decode step for every row; finished rows leave."""
        assert self._mask is not None and self._positions is not None and self._tokens is not None
        self._mask = torch.cat([self._mask, self._mask.new_ones((len(self.rows), 1))], dim=1)
        for row in self.rows:
            row.peak_batch = max(row.peak_batch, len(self.rows))
        scope, kwargs = self.adapters.scope(self.lm.model, [r.request.adapter for r in self.rows])
        with torch.inference_mode(), scope:
            out = self.lm.model(
                input_ids=self._tokens.unsqueeze(1),
                attention_mask=self._mask,
                position_ids=self._positions.unsqueeze(1),
                past_key_values=self._cache,
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
            self._cache = out.past_key_values
            self._tokens, chosen = choose(out.logits[:, -1, :], self.rows)
        self._positions = self._positions + 1
        keep = self._advance(self.rows, chosen, time.perf_counter(), on_done)
        if len(keep) < len(self.rows):
            self._keep(keep)

    def clear(self) -> list[Row]:
        """Empty the batch (after a failed step); returns the rows it held."""
        rows, self.rows = self.rows, []
        self._cache = self._mask = self._positions = self._tokens = None
        return rows

    def _advance(self, rows: list[Row], chosen: list[int], now: float, on_done: OnDone) -> list[int]:
        eos = set(self.lm.eos_ids)
        keep = []
        for index, (row, token) in enumerate(zip(rows, chosen, strict=True)):
            advance(self.lm, row, token, eos)
            if row.done:
                on_done(row, now)
            else:
                keep.append(index)
        return keep

    def _add(
        self, rows: list[Row], cache: object, mask: torch.Tensor, positions: torch.Tensor, tokens: torch.Tensor
    ) -> None:
        if not self.rows:
            self.rows, self._cache, self._mask, self._positions, self._tokens = rows, cache, mask, positions, tokens
            return
        assert self._mask is not None and self._positions is not None and self._tokens is not None
        width = max(self.width, int(mask.shape[1]))
        self._cache = kv.merge(self._cache, cache)  # type: ignore[arg-type]
        self._mask = torch.cat([_pad_mask(self._mask, width), _pad_mask(mask, width)])
        self._positions = torch.cat([self._positions, positions])
        self._tokens = torch.cat([self._tokens, tokens])
        self.rows = self.rows + rows

    def _keep(self, keep: list[int]) -> None:
        if not keep:
            self.clear()
            return
        assert self._mask is not None and self._positions is not None and self._tokens is not None
        index = torch.tensor(keep, device=self._mask.device)
        self._cache.batch_select_indices(index)  # type: ignore[attr-defined]
        self._mask, self._positions, self._tokens = self._mask[index], self._positions[index], self._tokens[index]
        self.rows = [self.rows[i] for i in keep]
        # the longest row gone, columns that are padding for every row left would only cost attention work
        lead = int(self._mask.any(dim=0).int().argmax())  # a host sync, only when rows leave
        if lead:
            kv.trim_left(self._cache, lead)  # type: ignore[arg-type]
            self._mask = self._mask[:, lead:]


def _pad_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    missing = width - mask.shape[1]
    return mask if missing == 0 else torch.cat([mask.new_zeros((mask.shape[0], missing)), mask], dim=1)
