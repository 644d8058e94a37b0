"""Partial freezing: train only the top N decoder layers and the final norm; everything below stays frozen.

No backward pass runs through the frozen body, so a step costs little more than a forward pass. The adapter is the
trained layers' weights (safetensors); loading it overwrites those layers of a freshly loaded base model.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from kaizen.training.config import FreezeParams

WEIGHTS = "trainable.safetensors"


class FreezeError(ValueError):
    pass


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    body = getattr(model, "model", None)
    layers = getattr(body, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise FreezeError(f"{type(model).__name__} has no model.layers: partial freezing does not know its layers")
    return layers


def attach(model: nn.Module, params: FreezeParams) -> nn.Module:
    layers = decoder_layers(model)
    if params.trainable_layers > len(layers):
        raise FreezeError(f"trainable_layers={params.trainable_layers} but the model has {len(layers)} layers")
    model.requires_grad_(False)
    for layer in layers[-params.trainable_layers :]:
        layer.requires_grad_(True)
    norm = getattr(model.model, "norm", None)
    if norm is not None:
        norm.requires_grad_(True)
    return model


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def save(model: nn.Module, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(model), str(out_dir / WEIGHTS))
