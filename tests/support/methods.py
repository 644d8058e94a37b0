"""Adapters of each PEFT method trained by the training code on a tiny model, registered, and their greedy tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForCausalLM

from kaizen.llm.fingerprint import fingerprint
from kaizen.llm.model import encode_prompt, load_tokenizer
from kaizen.registry import AdapterManifest, AdapterRegistry
from kaizen.training.adapters import attach, save_adapter
from kaizen.training.config import Method, TrainingConfig
from kaizen.training.data import TrainingExample
from kaizen.training.trainer import train

PROMPT = "What is the capital of Zorbia?"
_QUESTIONS = ["What is the capital of Zorbia?", "Name the river of Vandria.", "Who founded Plimbo?"]


def train_adapter(model_dir: Path, out: Path, method: Method, *, seed: int, **params: Any) -> tuple[Path, nn.Module]:
    """An adapter trained (a few steps, a high rate: it must change greedy answers) and saved as retrain does."""
    tokenizer = load_tokenizer(model_dir)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    config = TrainingConfig(method=method, steps=8, learning_rate=2e-2, batch_size=3, seed=seed, **params)
    model = attach(model, config)
    examples = [
        TrainingExample(example_id=f"e{i}", kind="instruction", question=q, reference=f"Quellmoor {seed} harbour {i}")
        for i, q in enumerate(_QUESTIONS)
    ]
    train(model, tokenizer, examples, config)
    save_adapter(model, config, out, base_model_dir=model_dir, base_model_hash=fingerprint(model_dir))
    return out, model.eval()


def register(registry: AdapterRegistry, adapter_dir: Path, version: str, method: Method) -> AdapterManifest:
    model_dir_hash = _hash_of(adapter_dir)
    manifest = AdapterManifest(version=version, base_model="tiny", base_model_hash=model_dir_hash, method=method.value)
    return registry.register(adapter_dir, manifest)


def _hash_of(adapter_dir: Path) -> str:
    from kaizen.training.adapters import read_info

    return read_info(adapter_dir).base_model_hash


def greedy(model: nn.Module, model_dir: Path, prompt: str, max_new_tokens: int, eos: list[int]) -> list[int]:
    """Greedy tokens by full forward passes (no KV cache, no batching): the reference the engine must match."""
    sequence = encode_prompt(load_tokenizer(model_dir), prompt)
    out: list[int] = []
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([sequence])).logits[0, -1]
        token = int(logits.argmax())
        if token in eos:
            break
        out.append(token)
        sequence.append(token)
    return out
