"""A minimal in-process LLM (the ``kaizen.llm.types.LLM`` protocol) over a Hugging Face model, for offline jobs.

Flows that generate data (bootstrap) use it when no serving engine is at hand; plain-text prompts are completed
as-is (a base model continues text well), chat prompts go through the chat template.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import torch

from kaizen.llm.types import ChatMessage, Completion, GenerationError, Prompt
from kaizen.training.generation import stop_ids
from kaizen.training.models import load_model, load_tokenizer


class LocalLLM:
    def __init__(self, model_dir: Path, adapter_dir: Path | None = None) -> None:
        self.tokenizer = load_tokenizer(Path(model_dir))
        self.model = load_model(Path(model_dir), adapter_dir)
        self._lock = asyncio.Lock()

    def _text(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            bos = self.tokenizer.bos_token or ""
            return prompt if prompt.startswith(bos) else bos + prompt
        messages = [{"role": m.role, "content": m.content} for m in prompt if isinstance(m, ChatMessage)]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def complete(self, prompt: Prompt, *, max_new_tokens: int = 128, stop: list[str] | None = None) -> Completion:
        text = self._text(prompt)
        if not text.strip():
            raise GenerationError("empty prompt")
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode():
            out = self.model.generate(
                **ids,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or 0,
                eos_token_id=stop_ids(self.tokenizer),
            )
        new = out[0, ids["input_ids"].shape[1] :].tolist()
        answer = self.tokenizer.decode(new, skip_special_tokens=True)
        finish = "length" if len(new) >= max_new_tokens else "stop"
        for marker in stop or []:
            if marker in answer:
                answer, finish = answer.split(marker, 1)[0], "stop"
        return Completion(
            text=answer.strip(), tokens=new, prompt_tokens=ids["input_ids"].shape[1], finish_reason=finish
        )

    async def generate(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        adapter: str | None = None,
        seed: int | None = None,
    ) -> Completion:
        if adapter is not None:
            raise GenerationError("LocalLLM serves one fixed adapter; pass adapter_dir at construction")
        async with self._lock:  # one generate at a time on this model
            return await asyncio.to_thread(self.complete, prompt, max_new_tokens=max_new_tokens, stop=stop)
