"""The contract between the LLM runtime and everything that calls it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "error"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    content: str


class Timings(BaseModel):
    queue_ms: float = 0.0
    prefill_ms: float = 0.0
    decode_ms: float = 0.0
    total_ms: float = 0.0


class Completion(BaseModel):
    text: str
    tokens: list[int] = Field(default_factory=list)
    prompt_tokens: int = 0
    finish_reason: FinishReason = "stop"
    timings: Timings = Field(default_factory=Timings)
    adapter_version: str | None = None
    batch_size: int = 1


class GenerationError(ValueError):
    """A request the engine refuses: empty prompt, too long, unknown adapter."""


Prompt = str | list[ChatMessage]

# Called with each new piece of a completion's text as it is decoded, in order; the pieces join to
# ``Completion.text``. Called from the engine's worker thread: hand it on (e.g. ``loop.call_soon_threadsafe``),
# never block in it.
OnDelta = Callable[[str], None]


@runtime_checkable
class LLM(Protocol):
    """What strategies, the evaluator and the services need from a language model."""

    async def generate(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        adapter: str | None = None,
        seed: int | None = None,
        on_delta: OnDelta | None = None,
    ) -> Completion: ...
