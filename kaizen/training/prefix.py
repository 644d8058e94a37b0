"""Prefix tuning and P-tuning: the base model stays frozen; trained virtual tokens steer it (peft)."""

from __future__ import annotations

from pathlib import Path

from peft import (
    PeftModel,
    PrefixTuningConfig,
    PromptEncoderConfig,
    PromptEncoderReparameterizationType,
    TaskType,
    get_peft_model,
)
from torch import nn

from kaizen.training.config import PromptParams


def prefix_config(params: PromptParams) -> PrefixTuningConfig:
    return PrefixTuningConfig(
        task_type=TaskType.CAUSAL_LM,
        num_virtual_tokens=params.num_virtual_tokens,
        prefix_projection=params.prefix_projection,
        encoder_hidden_size=params.encoder_hidden_size,
    )


def ptuning_config(params: PromptParams) -> PromptEncoderConfig:
    return PromptEncoderConfig(
        task_type=TaskType.CAUSAL_LM,
        num_virtual_tokens=params.num_virtual_tokens,
        encoder_hidden_size=params.encoder_hidden_size,
        encoder_reparameterization_type=PromptEncoderReparameterizationType.MLP,
    )


def attach_prefix(model: nn.Module, params: PromptParams) -> PeftModel:
    return get_peft_model(model, prefix_config(params))


def attach_ptuning(model: nn.Module, params: PromptParams) -> PeftModel:
    return get_peft_model(model, ptuning_config(params))


def save(model: PeftModel, out_dir: Path) -> None:
    model.save_pretrained(str(out_dir))
