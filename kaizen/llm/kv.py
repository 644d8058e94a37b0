"""Rows joining and leaving a running KV cache (transformers' ``DynamicCache``), kept aligned on the right.

Every row's tokens end at the cache's last position; shorter rows are padded on the left and the attention mask
hides the padding. So a newcomer's cache is merged by left-padding the shorter of the two to the longer one, and
columns that are padding for every remaining row (the longest row left) are trimmed.

Gemma 3 mixes full layers (``DynamicLayer``: every position) with sliding-window layers
(``DynamicSlidingWindowLayer``: the last ``sliding_window - 1`` positions, and a ``cumulative_length`` that
places them in the sequence). Both are handled: a sliding layer's stored positions are the last ones of the same
right-aligned sequence, so padding them on the left keeps them aligned, and its ``cumulative_length`` is the
sequence length shared by all rows.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer, DynamicSlidingWindowLayer


def merge(cache: Cache, other: Cache) -> Cache:
    """``cache`` with ``other``'s rows appended after its own (in place); both must span the same layers."""
    if len(cache.layers) != len(other.layers):
        raise ValueError("caches of different models cannot be merged")
    for layer, extra in zip(cache.layers, other.layers, strict=True):
        _check(layer)
        _check(extra)
        length = max(layer.keys.shape[-2], extra.keys.shape[-2])
        layer.keys = torch.cat([_pad_left(layer.keys, length), _pad_left(extra.keys, length)])
        layer.values = torch.cat([_pad_left(layer.values, length), _pad_left(extra.values, length)])
        if isinstance(layer, DynamicSlidingWindowLayer):
            layer.cumulative_length = max(layer.cumulative_length, extra.cumulative_length)
    return cache


def trim_left(cache: Cache, count: int) -> None:
    """Drop the first ``count`` positions of the sequence (padding for every row) from every layer."""
    if count <= 0:
        return
    for layer in cache.layers:
        _check(layer)
        stored = layer.keys.shape[-2]
        if isinstance(layer, DynamicSlidingWindowLayer):
            layer.cumulative_length -= count
            keep = min(stored, layer.cumulative_length)
        else:
            keep = stored - count
        layer.keys = layer.keys[:, :, stored - keep :, :]
        layer.values = layer.values[:, :, stored - keep :, :]


def _pad_left(states: torch.Tensor, length: int) -> torch.Tensor:
    missing = length - states.shape[-2]
    if missing == 0:
        return states
    pad = states.new_zeros((*states.shape[:-2], missing, states.shape[-1]))
    return torch.cat([pad, states], dim=-2)


def _check(layer: object) -> None:
    if type(layer) not in (DynamicLayer, DynamicSlidingWindowLayer):
        raise TypeError(f"continuous batching supports full and sliding-window KV layers, not {type(layer).__name__}")
    if not layer.is_initialized:  # type: ignore[attr-defined]
        raise ValueError("cache layer is empty: prefill before merging")
