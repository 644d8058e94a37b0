"""One entry point for every PEFT method: attach for training and save (loading: kaizen.llm.adapters)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from torch import nn

from kaizen.training import bottleneck, freeze, lora, prefix
from kaizen.training.config import Method, TrainingConfig

KAIZEN_ADAPTER = "kaizen_adapter.json"
# Files that must travel with anything derived from the base model (Gemma terms).
_LICENCE_GLOBS = ("GEMMA_TERMS*", "LICENSE*", "NOTICE*")


class AdapterInfo(BaseModel):
    """Written next to the weights so a loader knows the method without the registry."""

    model_config = ConfigDict(extra="forbid")

    method: Method
    hyperparameters: dict[str, Any]
    base_model_hash: str = ""


def attach(model: nn.Module, config: TrainingConfig) -> nn.Module:
    """The model with the method's trainable parameters in place (everything else frozen)."""
    match config.method:
        case Method.lora:
            return lora.attach(model, config.lora)
        case Method.prefix:
            return prefix.attach_prefix(model, config.prompt)
        case Method.ptuning:
            return prefix.attach_ptuning(model, config.prompt)
        case Method.freeze:
            return freeze.attach(model, config.freeze)
        case Method.bottleneck:
            return bottleneck.attach(model, config.bottleneck)


def save_adapter(
    model: nn.Module,
    config: TrainingConfig,
    out_dir: Path,
    *,
    base_model_dir: Path | None = None,
    base_model_hash: str = "",
) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.method == Method.freeze:
        freeze.save(model, out_dir)
    elif config.method == Method.bottleneck:
        bottleneck.save(model, config.bottleneck, out_dir)
    else:
        model.save_pretrained(str(out_dir))  # type: ignore[operator]
    info = AdapterInfo(method=config.method, hyperparameters=config.hyperparameters(), base_model_hash=base_model_hash)
    (out_dir / KAIZEN_ADAPTER).write_text(info.model_dump_json(indent=2))
    if base_model_dir is not None:
        for pattern in _LICENCE_GLOBS:
            for path in Path(base_model_dir).glob(pattern):
                shutil.copy2(path, out_dir / path.name)
    return out_dir


def read_info(adapter_dir: Path) -> AdapterInfo:
    path = Path(adapter_dir) / KAIZEN_ADAPTER
    if not path.exists():
        raise FileNotFoundError(f"{adapter_dir} is not a Kaizen adapter (no {KAIZEN_ADAPTER})")
    return AdapterInfo.model_validate(json.loads(path.read_text()))
