"""P-tuning adapters in serving: trained virtual-token embeddings prepended to a row's prompt at its prefill.

peft saves a P-tuning adapter's prompt encoder output (``prompt_embeddings``, one vector per virtual token), and in
inference it prepends exactly those vectors to the prompt's embeddings, numbering positions from the first virtual
token. The engine does the same per row (kaizen/llm/batch.py): the virtual tokens are a row's first cache positions,
so decoding after the prefill is the base model's, and rows of any adapter share a batch.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
from peft import PeftConfig
from peft.utils import load_peft_weights

from kaizen.llm.methods.base import AdapterError, ServedMethod


def _hidden_size(model: Any) -> int:
    return int(model.get_input_embeddings().weight.shape[-1])


class ServedPtuning(ServedMethod):
    def __init__(self) -> None:
        self._virtual: dict[str, torch.Tensor] = {}

    def read(self, path: Path, version: str) -> torch.Tensor:
        try:
            config = PeftConfig.from_pretrained(str(path))
            embeddings = load_peft_weights(str(path), device="cpu")["prompt_embeddings"]
        except Exception as exc:
            raise AdapterError(f"refusing adapter {version}: no readable peft P-tuning adapter ({exc})") from exc
        kind = str(getattr(config.peft_type, "value", config.peft_type)).upper()
        if kind != "P_TUNING":
            raise AdapterError(f"refusing adapter {version}: recorded as P-tuning, but its peft type is {kind}")
        if embeddings.ndim != 2 or embeddings.shape[0] != config.num_virtual_tokens:
            raise AdapterError(
                f"refusing adapter {version}: prompt embeddings of shape {tuple(embeddings.shape)} for "
                f"{config.num_virtual_tokens} virtual tokens"
            )
        return embeddings

    def install(self, model: Any, name: str, payload: object) -> Any:
        embeddings: torch.Tensor = payload  # type: ignore[assignment]
        table = model.get_input_embeddings().weight
        if embeddings.shape[-1] != table.shape[-1]:
            raise AdapterError(
                f"refusing adapter {name}: virtual tokens {embeddings.shape[-1]} wide, the model's embeddings "
                f"{table.shape[-1]}"
            )
        self._virtual[name] = embeddings.to(device=table.device, dtype=table.dtype)
        return model

    def delete(self, model: Any, name: str) -> Any:
        self._virtual.pop(name, None)
        return model

    def virtual(self, name: str) -> torch.Tensor | None:
        return self._virtual.get(name)

    def prepare(self, model: Any, names: list[str | None]) -> tuple[AbstractContextManager[object], dict[str, Any]]:
        return nullcontext(), {}  # nothing per step: the virtual tokens are in the rows' caches after prefill
