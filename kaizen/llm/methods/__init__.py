"""Adapters of every servable PEFT method in one serving model: how each is read, installed, run and removed.

``METHODS`` is the one list of what serving can hot-swap; ``SERVABLE_METHODS`` (what the retrain gate may promote)
is derived from it, so a method is servable exactly when it has a module here.

How requests of different adapters share a forward pass:

- LoRA and the bottleneck Adapter only add computation to the base model's, row by row (peft's ``adapter_names``;
  the bottleneck hosts' per-row routes); P-tuning prepends virtual-token embeddings to a row's prompt and prefix
  tuning key/value prefixes to a row's KV cache, both at its prefill only. Rows of different LoRA, bottleneck,
  P-tuning and prefix adapters and base-model rows share one batch, and a row joins a running batch whatever
  adapter its batch-mates use.
- A freeze adapter *replaces* base weights (its top layers), and a forward pass runs on one set of weights. So
  rows are grouped by weight set (``group``): a batch holds rows of one freeze version, or rows on the base
  weights (base, LoRA, bottleneck, P-tuning and prefix rows, mixed). The engine starts a batch with the oldest
  waiting row's group, takes every waiting row of that group, and admits no further rows while a row of another
  group waits, so that group's turn comes when the running batch drains (kaizen/llm/engine.py ``_admit``).
- A prefix row is prefilled on its own (then merged into the running batch), so that no left padding of a shared
  prefill falls between its prefix and its prompt: sliding-window layers count distance in cache positions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch

from kaizen.llm.decoding import BASE_ADAPTER
from kaizen.llm.methods.base import AdapterError, ServedMethod
from kaizen.llm.methods.bottleneck import ServedBottleneck
from kaizen.llm.methods.freeze import ServedFreeze
from kaizen.llm.methods.lora import ServedLora
from kaizen.llm.methods.prefix import ServedPrefix
from kaizen.llm.methods.ptuning import ServedPtuning
from kaizen.training.adapters import KAIZEN_ADAPTER, read_info
from kaizen.training.config import Method

METHODS: Mapping[Method, type[ServedMethod]] = {
    Method.lora: ServedLora,
    Method.bottleneck: ServedBottleneck,
    Method.freeze: ServedFreeze,
    Method.ptuning: ServedPtuning,
    Method.prefix: ServedPrefix,
}
SERVABLE_METHODS = frozenset(METHODS)
BASE_GROUP = ""  # the base model's own weights: base rows, and every adapter that does not replace weights

_PEFT_TYPES = {"LORA": Method.lora, "PREFIX_TUNING": Method.prefix, "P_TUNING": Method.ptuning}

__all__ = ["METHODS", "SERVABLE_METHODS", "AdapterError", "ServedAdapters", "method_of"]


def method_of(path: Path, version: str) -> Method:
    """The PEFT method of the adapter saved in ``path``: from Kaizen's own record, else from peft's config."""
    path = Path(path)
    try:
        if (path / KAIZEN_ADAPTER).exists():
            return read_info(path).method
        peft_config = path / "adapter_config.json"
        if peft_config.exists():
            kind = str(json.loads(peft_config.read_text()).get("peft_type", "")).upper()
            if kind in _PEFT_TYPES:
                return _PEFT_TYPES[kind]
            raise AdapterError(f"refusing adapter {version}: peft type {kind or '?'} is not a Kaizen method")
    except AdapterError:
        raise
    except Exception as exc:
        raise AdapterError(f"refusing adapter {version}: unreadable adapter description ({exc})") from exc
    raise AdapterError(f"refusing adapter {version}: no {KAIZEN_ADAPTER} or peft adapter_config.json in it")


class ServedAdapters:
    """The adapters installed in one engine's model, by method. Used only in the engine's worker thread."""

    def __init__(self) -> None:
        self.methods: dict[Method, ServedMethod] = {method: kind() for method, kind in METHODS.items()}
        self._of: dict[str, ServedMethod] = {}  # adapter name -> its method

    def method(self, method: Method, version: str) -> ServedMethod:
        served = self.methods.get(method)
        if served is None:
            raise AdapterError(
                f"refusing adapter {version}: {method.value} adapters cannot be served; servable methods: "
                f"{', '.join(sorted(m.value for m in SERVABLE_METHODS))}"
            )
        return served

    def install(self, model: Any, name: str, served: ServedMethod, payload: object) -> Any:
        model = served.install(model, name, payload)
        self._of[name] = served
        return model

    def delete(self, model: Any, name: str) -> Any:
        served = self._of.pop(name, None)
        return model if served is None else served.delete(model, name)

    def group(self, name: str) -> str:
        """The weight set ``name``'s rows run on: rows of different groups never share a forward pass."""
        served = self._of.get(name)
        return name if served is not None and served.replaces_weights else BASE_GROUP

    def virtual(self, name: str) -> torch.Tensor | None:
        """The virtual-token embeddings a row of ``name`` starts with (P-tuning), or None."""
        served = self._of.get(name)
        return None if served is None else served.virtual(name)

    def prefix(self, name: str) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """Per layer, the keys and values a row of ``name`` starts its cache with (prefix tuning), or None."""
        served = self._of.get(name)
        return None if served is None else served.prefix(name)

    def leading(self, name: str) -> int:
        """Cache positions a row of ``name`` takes before its prompt."""
        served = self._of.get(name)
        return 0 if served is None else served.leading(name)

    def scope(self, model: Any, names: list[str]) -> tuple[AbstractContextManager[object], dict[str, Any]]:
        """How to run one forward pass for rows using ``names`` (one group): a context and extra arguments."""
        contexts: list[AbstractContextManager[object]] = []
        kwargs: dict[str, Any] = {}
        for served in self.methods.values():
            own = [n if n != BASE_ADAPTER and self._of.get(n) is served else None for n in names]
            context, extra = served.prepare(model, own)
            contexts.append(context)
            kwargs.update(extra)
        return _entered(contexts), kwargs


@contextmanager
def _entered(contexts: list[AbstractContextManager[object]]) -> Iterator[None]:
    with ExitStack() as stack:
        for context in contexts:
            stack.enter_context(context)
        yield
