"""What serving needs from a PEFT method: read its files, install and delete it in the model, run a forward pass."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

import torch


class AdapterError(RuntimeError):
    """An adapter serving refuses: corrupt, trained on another base model, unknown, or not servable."""


class ServedMethod:
    """One PEFT method's adapters in a serving model; ``install``, ``delete`` and ``prepare`` run in the engine's
    worker (between two decode steps), ``read`` in the loading caller's thread."""

    # True when an adapter replaces base weights: its rows cannot share a forward pass with any other rows.
    replaces_weights: ClassVar[bool] = False

    def read(self, path: Path, version: str) -> object:
        """Parse and check the saved files (no model needed); raise ``AdapterError``."""
        raise NotImplementedError

    def install(self, model: Any, name: str, payload: object) -> Any:
        """Add adapter ``name`` (``read``'s payload); the model unchanged if it does not fit (``AdapterError``)."""
        raise NotImplementedError

    def delete(self, model: Any, name: str) -> Any:
        raise NotImplementedError

    def virtual(self, name: str) -> torch.Tensor | None:
        """Embeddings prepended to the prompt of a row using ``name`` at its prefill (P-tuning), or None."""
        return None

    def prefix(self, name: str) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """Per layer, the keys and values a row using ``name`` starts its cache with (prefix tuning), or None."""
        return None

    def leading(self, name: str) -> int:
        """Cache positions a row using ``name`` takes before its prompt (virtual tokens or a prefix)."""
        virtual = self.virtual(name)
        return 0 if virtual is None else int(virtual.shape[0])

    def prepare(self, model: Any, names: list[str | None]) -> tuple[AbstractContextManager[object], dict[str, Any]]:
        """For one forward pass: each row's adapter of this method (None: none of this method's)."""
        raise NotImplementedError
