"""The one model loader (serving, training and evaluation) and the one stop-token rule; prompts into token ids.

Every call loads a fresh copy: partial freezing writes into the base weights and peft injects layers in place, so a
model handed to training or to an engine is never shared. The tokenizer is shared (one per directory per process):
building the real one takes seconds, and nothing changes it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, PreTrainedTokenizerBase

from kaizen.config import get_settings
from kaizen.llm.device import device_of, resolve_device, resolve_dtype
from kaizen.llm.fingerprint import fingerprint
from kaizen.llm.head import use_vocab_head
from kaizen.llm.types import ChatMessage, GenerationError, Prompt


class LoadedModel(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_dir: Path
    model: Any  # a transformers causal LM; becomes a peft.PeftModel once an adapter is loaded
    tokenizer: PreTrainedTokenizerBase
    dtype: torch.dtype
    device: torch.device = torch.device("cpu")
    fingerprint: str
    context_length: int
    eos_ids: list[int]
    pad_id: int

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes one token of one row takes, every layer holding it (sliding layers hold fewer)."""
        config = self.model.config.get_text_config(decoder=True)
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        return 2 * config.num_hidden_layers * heads * head_dim * torch.finfo(self.dtype).bits // 8

    @classmethod
    def wrap(cls, model_dir: Path, model: Any, tokenizer: PreTrainedTokenizerBase | None = None) -> LoadedModel:
        """``model`` (loaded from ``model_dir``, maybe trained since) described for the generation engine."""
        model_dir = Path(model_dir)
        tokenizer = tokenizer or load_tokenizer(model_dir)
        return cls(
            model_dir=model_dir,
            model=model,
            tokenizer=tokenizer,
            dtype=next(model.parameters()).dtype,
            device=device_of(model),
            fingerprint=fingerprint(model_dir),
            context_length=_context_length(model.config),
            eos_ids=eos_ids(model.generation_config, tokenizer),
            pad_id=_pad_id(model.config, tokenizer),
        )


@lru_cache(maxsize=4)
def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)


def load_model(
    model_dir: Path,
    dtype: str | torch.dtype = "auto",
    threads: int = 0,
    device: str | torch.device | None = None,
) -> LoadedModel:
    """A fresh copy of the model on ``device`` (``Settings.device`` values; None: the settings' own) in ``dtype``
    (``auto`` follows the device, as serving runs; training asks for float32 master weights)."""
    if threads > 0:
        torch.set_num_threads(threads)
    model_dir = Path(model_dir)
    if device is None:
        device = get_settings().device
    where = device if isinstance(device, torch.device) else resolve_device(device)
    torch_dtype = dtype if isinstance(dtype, torch.dtype) else resolve_dtype(dtype, where)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype, local_files_only=True)
    if where.type == "cpu":  # the head's rewrite helps MKL; cuBLAS runs the plain Linear well
        use_vocab_head(model)
    model.to(where)
    model.eval()
    return LoadedModel.wrap(model_dir, model, load_tokenizer(model_dir))


def _context_length(config: Any) -> int:
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def eos_ids(generation_config: GenerationConfig | None, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The tokens generation stops at, wherever it runs (engine, evaluation, benchmarks): the model's and the
    tokenizer's end of sequence, and the chat template's end of turn."""
    ids: set[int] = set()
    eos = getattr(generation_config, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif eos:
        ids.update(int(i) for i in eos)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    # Chat models end a turn with their own marker (Gemma: <end_of_turn>); stop there too.
    for marker in ("<end_of_turn>", "<|im_end|>", "<|eot_id|>"):
        token_id = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids.add(token_id)
    return sorted(ids)


def _pad_id(config: Any, tokenizer: PreTrainedTokenizerBase) -> int:
    for value in (tokenizer.pad_token_id, getattr(config, "pad_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            return value
    return 0


def render_chat(tokenizer: PreTrainedTokenizerBase, messages: list[ChatMessage]) -> str:
    """The conversation in the model's own chat template, ending with the model's turn opened."""
    if not tokenizer.chat_template:
        raise GenerationError("this model has no chat template: send a plain-text prompt")
    return tokenizer.apply_chat_template([m.model_dump() for m in messages], tokenize=False, add_generation_prompt=True)


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: Prompt) -> list[int]:
    """Token ids for a plain-text prompt (BOS added) or a chat (template already carries BOS)."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise GenerationError("empty prompt")
        return list(tokenizer(prompt, add_special_tokens=True).input_ids)
    if not prompt or not any(m.content.strip() for m in prompt):
        raise GenerationError("empty prompt: no message has content")
    try:
        text = render_chat(tokenizer, list(prompt))
    except GenerationError:
        raise
    except Exception as exc:  # the template raises on roles it cannot render
        raise GenerationError(f"cannot render the chat: {exc}") from exc
    # The rendered chat starts with <bos>; adding special tokens would double it.
    return list(tokenizer(text, add_special_tokens=False).input_ids)
