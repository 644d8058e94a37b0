"""Loading the base model (and an adapter on it) for training and evaluation."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForCausalLM, PreTrainedTokenizerBase

from kaizen.config import get_settings
from kaizen.llm import model as llm_model
from kaizen.llm.adapters import load_adapter
from kaizen.llm.device import resolve_device
from kaizen.llm.fingerprint import fingerprint
from kaizen.llm.head import use_vocab_head


def base_model_hash(model_dir: Path) -> str:
    return fingerprint(model_dir)


@lru_cache(maxsize=4)
def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    # Building the real tokenizer takes seconds: one per model directory per process.
    return llm_model.load_tokenizer(Path(model_dir))


def load_model(model_dir: Path, adapter_dir: Path | None = None, device: str | None = None) -> nn.Module:
    """A fresh fp32 copy of the base model on ``device`` (default: ``Settings.device``), with ``adapter_dir``.

    Always fresh: partial freezing writes into the base weights, and peft injects layers in place. fp32 whatever
    the device: training keeps fp32 master weights (bf16 is autocast, TrainingConfig.bf16).
    """
    where = resolve_device(device or get_settings().device)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    if where.type == "cpu":
        use_vocab_head(model)
    model.to(where)
    model.eval()
    if adapter_dir is not None:
        model = load_adapter(model, adapter_dir).to(where)
        model.eval()
    return model
