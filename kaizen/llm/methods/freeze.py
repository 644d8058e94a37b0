"""Freeze adapters in serving: a versioned set of replaced parameters (the top layers' tensors and final norm that
partial freezing trained), swapped into the model per batch.

A forward pass runs on one set of weights, so a batch holds rows of one freeze version only (or only rows on the
base weights); the engine groups requests by version (kaizen.llm.methods ``group``). Every loaded version keeps its
tensors on the model's device; activating one points the replaced parameters at its tensors (no copy), and the
base model's own tensors are kept to point back to. A swap costs a pointer change per tensor, done when
consecutive batches are on different versions.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file
from torch import nn

from kaizen.llm.methods.base import AdapterError, ServedMethod
from kaizen.training import freeze

BASE = ""  # the active version when the base model's own tensors are in place


def _parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The base model's parameters by their training-time names, under peft's or the bottleneck's additions."""
    get_base = getattr(model, "get_base_model", None)
    base = get_base() if callable(get_base) else model
    found: dict[str, nn.Parameter] = {}
    for name, param in base.named_parameters():
        if "lora_" in name or "kaizen_bottleneck" in name:
            continue
        found[name.replace(".base_layer.", ".")] = param  # peft keeps a wrapped layer's weights as base_layer
    return found


class ServedFreeze(ServedMethod):
    replaces_weights: ClassVar[bool] = True

    def __init__(self) -> None:
        self._versions: dict[str, dict[str, torch.Tensor]] = {}
        self._params: dict[str, nn.Parameter] = {}  # every parameter some version replaces
        self._originals: dict[str, torch.Tensor] = {}  # their base-model tensors
        self._active = BASE

    def read(self, path: Path, version: str) -> dict[str, torch.Tensor]:
        try:
            state = load_file(str(Path(path) / freeze.WEIGHTS))
        except Exception as exc:
            raise AdapterError(f"refusing adapter {version}: no readable freeze weights ({exc})") from exc
        if not state:
            raise AdapterError(f"refusing adapter {version}: its freeze weights are empty")
        return state

    def install(self, model: Any, name: str, payload: object) -> Any:
        state: dict[str, torch.Tensor] = payload  # type: ignore[assignment]
        params = _parameters(model)
        unknown = sorted(set(state) - set(params))
        if unknown:
            raise AdapterError(f"refusing adapter {name}: weights the model lacks: {unknown[:3]}")
        wrong = [n for n, t in state.items() if t.shape != params[n].shape]
        if wrong:
            n = wrong[0]
            raise AdapterError(
                f"refusing adapter {name}: {n} has shape {tuple(state[n].shape)}, the model's is "
                f"{tuple(params[n].shape)}"
            )
        self.activate(BASE)  # the originals are recorded from the base weights
        for key in state:
            if key not in self._params:
                self._params[key] = params[key]
                self._originals[key] = params[key].data
        self._versions[name] = {k: t.to(device=params[k].device, dtype=params[k].dtype) for k, t in state.items()}
        return model

    def delete(self, model: Any, name: str) -> Any:
        if self._active == name:
            self.activate(BASE)
        self._versions.pop(name, None)
        if not self._versions:
            self.activate(BASE)
            self._params, self._originals = {}, {}
        return model

    def activate(self, version: str) -> None:
        if version == self._active:
            return
        replaced = self._versions[version] if version != BASE else {}
        for key, param in self._params.items():
            param.data = replaced.get(key, self._originals[key])
        self._active = version

    @property
    def active(self) -> str:
        return self._active

    def prepare(self, model: Any, names: list[str | None]) -> tuple[AbstractContextManager[object], dict[str, Any]]:
        versions = set(names)
        if len(versions) > 1:  # the engine groups rows by weight set; reaching this is a bug, not a request error
            raise RuntimeError(f"one forward pass cannot run freeze versions {sorted(map(str, versions))} together")
        (version,) = versions
        self.activate(version or BASE)
        return nullcontext(), {}
