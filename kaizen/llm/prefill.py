"""The inputs of a prefill: the newcomers' prompts, left-padded, with what their adapters put before them.

Most rows are token ids. A P-tuning row starts with its adapter's virtual-token embeddings (then every row of the
prefill is given as embeddings), a prefix-tuning row with its adapter's keys and values in a fresh cache (then every
row gets that cache, the prefix positions masked for rows without one; the engine prefills a prefix row alone, so
that no padding falls between its prefix and its prompt). Either way a row's positions count from its first real or
virtual position, as peft numbers them in training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from transformers.cache_utils import DynamicCache

from kaizen.llm.decoding import Row
from kaizen.llm.model import LoadedModel

if TYPE_CHECKING:
    from kaizen.llm.methods import ServedAdapters


def prefill_inputs(
    lm: LoadedModel, adapters: ServedAdapters, rows: list[Row]
) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
    """(forward arguments, attention mask over cache + prompt, position ids of the prompt positions)."""
    device = lm.device
    virtual = [adapters.virtual(r.request.adapter) for r in rows]
    if any(v is not None for v in virtual):
        inputs, mask = _embedded(lm, rows, virtual)
    else:
        input_ids, mask = left_pad([r.prompt_ids for r in rows], lm.pad_id, device)
        inputs = {"input_ids": input_ids}
    prefixes = [adapters.prefix(r.request.adapter) for r in rows]
    if any(p is not None for p in prefixes):
        cache, past = _prefix_cache(lm, prefixes)
        inputs["past_key_values"] = cache
        mask = torch.cat([past, mask], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, past.shape[1] :]
    else:
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return inputs, mask, positions


def left_pad(sequences: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        input_ids[row, width - len(sequence) :] = torch.tensor(sequence, dtype=torch.long)
        attention_mask[row, width - len(sequence) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def _embedded(
    lm: LoadedModel, rows: list[Row], virtual: list[torch.Tensor | None]
) -> tuple[dict[str, Any], torch.Tensor]:
    """The rows' prompts as embeddings, each after its virtual tokens (if any), left-padded."""
    embed = lm.model.get_input_embeddings()
    with torch.inference_mode():
        pieces = []
        for row, extra in zip(rows, virtual, strict=True):
            own = embed(torch.tensor([row.prompt_ids], device=lm.device))[0]
            pieces.append(own if extra is None else torch.cat([extra.to(own.dtype), own]))
    width = max(p.shape[0] for p in pieces)
    embeds = pieces[0].new_zeros((len(rows), width, pieces[0].shape[-1]))
    mask = torch.zeros((len(rows), width), dtype=torch.long, device=lm.device)
    for index, piece in enumerate(pieces):
        embeds[index, width - piece.shape[0] :] = piece
        mask[index, width - piece.shape[0] :] = 1
    return {"inputs_embeds": embeds}, mask


def _prefix_cache(
    lm: LoadedModel, prefixes: list[list[tuple[torch.Tensor, torch.Tensor]] | None]
) -> tuple[DynamicCache, torch.Tensor]:
    """A cache holding each row's prefix right-aligned (filled as peft fills it), and its mask."""
    width = max(p[0][0].shape[1] for p in prefixes if p is not None)
    config = lm.model.config.get_text_config(decoder=True)
    cache = DynamicCache(config=config)
    past = torch.zeros((len(prefixes), width), dtype=torch.long, device=lm.device)
    first = next(p for p in prefixes if p is not None)
    sample = first[0][0]  # [kv heads, virtual tokens, head dim]
    for index, prefix in enumerate(prefixes):
        if prefix is not None:
            past[index, width - prefix[0][0].shape[1] :] = 1
    positions = torch.arange(width, device=lm.device)
    for layer in range(len(first)):
        keys = sample.new_zeros((len(prefixes), sample.shape[0], width, sample.shape[2]))
        values = keys.clone()
        for index, prefix in enumerate(prefixes):
            if prefix is not None:
                length = prefix[layer][0].shape[1]
                keys[index, :, width - length :] = prefix[layer][0]
                values[index, :, width - length :] = prefix[layer][1]
        cache.update(keys, values, layer, cache_kwargs={"cache_position": positions})
    return cache, past
