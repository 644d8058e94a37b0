"""The bottleneck Adapter (Houlsby et al. 2019): small modules injected after attention and/or the MLP.

Each adapter is ``h + up(act(down(h)))`` on a sublayer's output, before the decoder's residual add; ``up`` starts at
zero, so an untrained adapter is the identity. The base model stays frozen.

Each decoder layer gets a ``BottleneckHost`` child holding any number of named adapters per position, applied by
forward hooks on its attention and MLP, so no existing module is replaced or renamed (peft's LoRA layers and their
weight names stay as they are: both kinds load into one serving model). The host routes each batch row to its own
adapter or to none, so serving hot-swaps bottleneck adapters and mixes them in one batch the way peft's
``adapter_names`` mixes LoRA.

Saved format (a directory, beside the peft formats of the other methods):
- ``bottleneck.json``: ``BottleneckFormat`` (format name and version, bottleneck size, positions, activation, the
  hidden size and number of layers it was trained on);
- ``bottleneck.safetensors``: ``layers.<i>.<position>.down.weight|bias`` and ``...up.weight|bias``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from safetensors.torch import load_file, save_file
from torch import nn

from kaizen.training.config import BottleneckParams
from kaizen.training.freeze import decoder_layers

CONFIG = "bottleneck.json"
WEIGHTS = "bottleneck.safetensors"
TRAINING_NAME = "default"  # the adapter's name while it trains or is evaluated offline
Position = Literal["attention", "mlp"]
Route = str | list[str | None] | None

_ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


class BottleneckError(ValueError):
    pass


class BottleneckFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["kaizen-bottleneck"] = "kaizen-bottleneck"
    format_version: Literal[1] = 1
    bottleneck_size: int
    positions: list[Position]
    activation: str
    hidden_size: int
    num_layers: int


class BottleneckAdapter(nn.Module):
    def __init__(self, hidden_size: int, bottleneck_size: int, activation: str) -> None:
        super().__init__()
        self.down = nn.Linear(hidden_size, bottleneck_size)
        self.act = _ACTIVATIONS[activation]()
        self.up = nn.Linear(bottleneck_size, hidden_size)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(self.act(self.down(h)))


class BottleneckHost(nn.Module):
    """One decoder layer's adapters; ``route`` says which adapter each row goes through (None: none)."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.ModuleDict()
        self.mlp = nn.ModuleDict()
        self.route: Route = None
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []

    def hook(self, layer: nn.Module) -> None:
        self._hooks = [
            layer.self_attn.register_forward_hook(self._after_attention),
            layer.mlp.register_forward_hook(self._after_mlp),
        ]

    def unhook(self) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    def _after_attention(self, _module: nn.Module, _args: object, output: tuple[torch.Tensor, ...]) -> object:
        return (self._apply(self.attention, output[0]), *output[1:])

    def _after_mlp(self, _module: nn.Module, _args: object, output: torch.Tensor) -> torch.Tensor:
        return self._apply(self.mlp, output)

    def _apply(self, adapters: nn.ModuleDict, h: torch.Tensor) -> torch.Tensor:
        route = self.route
        if route is None or not len(adapters):
            return h
        if isinstance(route, str):
            return adapters[route](h) if route in adapters else h
        out = h.clone()
        for name in {n for n in route if n is not None and n in adapters}:
            rows = torch.tensor([i for i, n in enumerate(route) if n == name], device=h.device)
            out[rows] = adapters[name](h[rows])
        return out

    def __len__(self) -> int:
        return len(self.attention) + len(self.mlp)


HOST = "kaizen_bottleneck"


def _base(model: nn.Module) -> nn.Module:
    """The transformers model under a peft wrapper (LoRA adapters can share the engine's model)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def _layers(model: nn.Module) -> nn.ModuleList:
    return decoder_layers(_base(model))


def hosts(model: nn.Module) -> list[BottleneckHost]:
    return [m for m in model.modules() if isinstance(m, BottleneckHost)]


def _host(layer: nn.Module) -> BottleneckHost:
    host = getattr(layer, HOST, None)
    if not isinstance(host, BottleneckHost):
        host = BottleneckHost()
        layer.add_module(HOST, host)
        host.hook(layer)
    return host


def _hidden_size(model: nn.Module) -> int:
    return int(_base(model).config.hidden_size)


def _dtype(layer: nn.Module) -> torch.dtype:
    return next(layer.mlp.parameters()).dtype


def _device(layer: nn.Module) -> torch.device:
    return next(layer.mlp.parameters()).device


def _key(name: str) -> str:
    return name.replace(".", "_")  # a module name cannot hold a dot


# --- training ---------------------------------------------------------------------------------------------------
def attach(model: nn.Module, params: BottleneckParams) -> nn.Module:
    """Freeze ``model`` and inject one trainable adapter, routed for every row."""
    model.requires_grad_(False)
    hidden = _hidden_size(model)
    for layer in _layers(model):
        host = _host(layer)
        for position in params.positions:
            adapter = BottleneckAdapter(hidden, params.bottleneck_size, params.activation)
            adapter = adapter.to(device=_device(layer), dtype=_dtype(layer))
            getattr(host, position)[TRAINING_NAME] = adapter
        host.route = TRAINING_NAME
    return model


def save(model: nn.Module, params: BottleneckParams, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, torch.Tensor] = {}
    for index, layer in enumerate(_layers(model)):
        host = getattr(layer, HOST)
        for position in params.positions:
            for name, tensor in getattr(host, position)[TRAINING_NAME].state_dict().items():
                state[f"layers.{index}.{position}.{name}"] = tensor.detach().contiguous()
    save_file(state, str(out_dir / WEIGHTS))
    fmt = BottleneckFormat(
        bottleneck_size=params.bottleneck_size,
        positions=list(params.positions),
        activation=params.activation,
        hidden_size=_hidden_size(model),
        num_layers=len(_layers(model)),
    )
    (out_dir / CONFIG).write_text(fmt.model_dump_json(indent=2))


# --- loading (offline and into a serving engine) ----------------------------------------------------------------
def read(adapter_dir: Path) -> tuple[BottleneckFormat, dict[str, torch.Tensor]]:
    try:
        fmt = BottleneckFormat.model_validate(json.loads((Path(adapter_dir) / CONFIG).read_text()))
        weights = load_file(str(Path(adapter_dir) / WEIGHTS))
    except Exception as exc:
        raise BottleneckError(f"{adapter_dir}: not a readable bottleneck adapter ({exc})") from exc
    return fmt, weights


def install(model: nn.Module, name: str, fmt: BottleneckFormat, weights: dict[str, torch.Tensor]) -> nn.Module:
    """Add adapter ``name`` to ``model``; nothing changes if the weights do not fit."""
    layers = _layers(model)
    if fmt.hidden_size != _hidden_size(model) or fmt.num_layers != len(layers):
        raise BottleneckError(
            f"adapter {name} was trained on hidden size {fmt.hidden_size} x {fmt.num_layers} layers; "
            f"the model has {_hidden_size(model)} x {len(layers)}"
        )
    built: list[tuple[int, Position, BottleneckAdapter]] = []
    expected: set[str] = set()
    for index, layer in enumerate(layers):
        for position in fmt.positions:
            adapter = BottleneckAdapter(fmt.hidden_size, fmt.bottleneck_size, fmt.activation)
            prefix = f"layers.{index}.{position}."
            own = {prefix + k for k in adapter.state_dict()}
            expected |= own
            try:
                adapter.load_state_dict({k.removeprefix(prefix): weights[k] for k in own})
            except (KeyError, RuntimeError) as exc:
                raise BottleneckError(f"adapter {name}: weights do not fit the model ({exc})") from exc
            placed = adapter.to(device=_device(layer), dtype=_dtype(layer))
            built.append((index, position, placed.eval().requires_grad_(False)))
    unexpected = sorted(set(weights) - expected)
    if unexpected:
        raise BottleneckError(f"adapter {name}: unexpected weights {unexpected[:3]}")
    for index, position, adapter in built:
        getattr(_host(layers[index]), position)[_key(name)] = adapter
    return model


def delete(model: nn.Module, name: str) -> nn.Module:
    """Remove adapter ``name``; a layer left with none loses its hooks, and the model is the bare base again."""
    for layer in _layers(model):
        host = getattr(layer, HOST, None)
        if not isinstance(host, BottleneckHost):
            continue
        for adapters in (host.attention, host.mlp):
            if _key(name) in adapters:
                del adapters[_key(name)]
        if not len(host):
            host.unhook()
            delattr(layer, HOST)
    return model


def names(model: nn.Module) -> set[str]:
    return {name for host in hosts(model) for name in (*host.attention, *host.mlp)}


@contextmanager
def route(model: nn.Module, per_row: list[str | None]) -> Iterator[None]:
    """Send each row through its adapter (None: no bottleneck adapter) for the forward passes inside."""
    distinct = set(per_row)
    value: Route = [None if n is None else _key(n) for n in per_row]
    if len(distinct) == 1:
        only = next(iter(distinct))
        value = None if only is None else _key(only)
    found = hosts(model)
    for host in found:
        host.route = value
    try:
        yield
    finally:
        for host in found:
            host.route = None
