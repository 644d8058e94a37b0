"""Bottleneck Adapters in serving: modules injected after attention and MLP (kaizen.training.bottleneck), several
per model, each row of a batch routed through its own (or none), so they mix in one batch with each other, LoRA
and base rows."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from kaizen.llm.methods.base import AdapterError, ServedMethod
from kaizen.training import bottleneck


class ServedBottleneck(ServedMethod):
    def read(self, path: Path, version: str) -> tuple[bottleneck.BottleneckFormat, dict[str, Any]]:
        try:
            return bottleneck.read(path)
        except bottleneck.BottleneckError as exc:
            raise AdapterError(f"refusing adapter {version}: {exc}") from exc

    def install(self, model: Any, name: str, payload: object) -> Any:
        fmt, weights = payload  # type: ignore[misc]
        try:
            return bottleneck.install(model, name, fmt, weights)
        except bottleneck.BottleneckError as exc:
            raise AdapterError(f"refusing adapter {name}: {exc}") from exc

    def delete(self, model: Any, name: str) -> Any:
        return bottleneck.delete(model, name)

    def prepare(self, model: Any, names: list[str | None]) -> tuple[AbstractContextManager[object], dict[str, Any]]:
        if all(n is None for n in names):
            return nullcontext(), {}  # hosts route nothing unless told: base behaviour
        return bottleneck.route(model, names), {}
