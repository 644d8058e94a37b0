"""LoRA (the default method): low-rank updates on attention and MLP projections, via peft."""

from __future__ import annotations

from pathlib import Path

from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from torch import nn

from kaizen.training.config import LoraParams


def peft_config(params: LoraParams) -> LoraConfig:
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=params.rank,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=list(params.target_modules),
        bias="none",
    )


def attach(model: nn.Module, params: LoraParams) -> PeftModel:
    return get_peft_model(model, peft_config(params))


def save(model: PeftModel, out_dir: Path) -> None:
    model.save_pretrained(str(out_dir))


def merge_and_save(model: PeftModel, out_dir: Path) -> Path:
    """Fold the low-rank updates into the base weights and save a plain model (for export, not for hot-swap)."""
    merged = model.merge_and_unload()
    merged.save_pretrained(str(out_dir))
    return out_dir
