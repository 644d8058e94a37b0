"""Prefix-tuning adapters in serving: trained key/value prefixes put in front of a row's KV cache at its prefill.

peft saves a prefix adapter's key/value vectors (``prompt_embeddings``: per virtual token, every layer's keys and
values) and in inference fills a fresh cache with them before the prompt, numbering the prompt's positions after
the prefix. The engine does the same per row (kaizen/llm/batch.py): a row's prefix becomes its first cache
positions (left-padded and masked like a shorter prompt for its batch-mates), so after the prefill the row decodes
on the shared cache, and rows of any adapter share a batch.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
from peft import PeftConfig
from peft.utils import load_peft_weights

from kaizen.llm.methods.base import AdapterError, ServedMethod

Prefix = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys and values, [kv heads, virtual tokens, head dim]


class ServedPrefix(ServedMethod):
    def __init__(self) -> None:
        self._prefixes: dict[str, Prefix] = {}

    def read(self, path: Path, version: str) -> tuple[Any, torch.Tensor]:
        try:
            config = PeftConfig.from_pretrained(str(path))
            vectors = load_peft_weights(str(path), device="cpu")["prompt_embeddings"]
        except Exception as exc:
            raise AdapterError(f"refusing adapter {version}: no readable peft prefix adapter ({exc})") from exc
        kind = str(getattr(config.peft_type, "value", config.peft_type)).upper()
        if kind != "PREFIX_TUNING":
            raise AdapterError(f"refusing adapter {version}: recorded as prefix tuning, but its peft type is {kind}")
        expected = (config.num_virtual_tokens, config.num_layers * 2 * config.token_dim)
        if tuple(vectors.shape) != expected:
            raise AdapterError(
                f"refusing adapter {version}: prefix vectors of shape {tuple(vectors.shape)}, its config says "
                f"{expected}"
            )
        return config, vectors

    def install(self, model: Any, name: str, payload: object) -> Any:
        config, vectors = payload  # type: ignore[misc]
        text = model.config.get_text_config(decoder=True)
        heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        want = (text.num_hidden_layers, heads, head_dim)
        have = (config.num_layers, config.num_attention_heads, config.token_dim // config.num_attention_heads)
        if have != want:
            raise AdapterError(
                f"refusing adapter {name}: a prefix for (layers, kv heads, head dim) {have}, the model has {want}"
            )
        table = model.get_input_embeddings().weight
        # peft's layout: [virtual, layers * 2, heads, head dim], keys and values of layer i at 2i and 2i + 1
        states = vectors.view(config.num_virtual_tokens, config.num_layers * 2, heads, head_dim).permute(1, 2, 0, 3)
        states = states.to(device=table.device, dtype=table.dtype).contiguous()
        self._prefixes[name] = [(states[2 * i], states[2 * i + 1]) for i in range(config.num_layers)]
        return model

    def delete(self, model: Any, name: str) -> Any:
        self._prefixes.pop(name, None)
        return model

    def prefix(self, name: str) -> Prefix | None:
        return self._prefixes.get(name)

    def leading(self, name: str) -> int:
        prefix = self._prefixes.get(name)
        return 0 if prefix is None else int(prefix[0][0].shape[1])

    def prepare(self, model: Any, names: list[str | None]) -> tuple[AbstractContextManager[object], dict[str, Any]]:
        return nullcontext(), {}  # nothing per step: the prefixes are in the rows' caches after prefill
