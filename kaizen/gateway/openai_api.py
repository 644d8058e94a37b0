"""OpenAI chat-completions compatibility: map a chat request onto an interaction request and its response back.

The last user message is the question; system (and developer) messages become the system prompt, and the user and
assistant turns before the question its history (tool messages are not used). Kaizen options ride in the ``kaizen``
field (the ``openai`` client sends it with ``extra_body``); the model name may also pick the mode (``kaizen-rag``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kaizen.events import InteractionRequest, InteractionResponse, KbName, Mode, RequestOptions, Turn

MODEL_PREFIX = "kaizen"
MODELS = [MODEL_PREFIX] + [f"{MODEL_PREFIX}-{mode.value}" for mode in Mode]


class ContentPart(BaseModel):
    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class KaizenOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = None
    knowledge_bases: list[KbName] = Field(default_factory=list, max_length=16)
    top_k: int | None = Field(None, ge=1, le=50)
    self_consistency: int | None = Field(None, ge=0, le=16)
    max_rounds: int | None = Field(None, ge=1, le=8)
    adapter: str | None = None
    session_id: str | None = Field(None, max_length=256)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    # OpenAI parameters Kaizen does not use (presence_penalty, logprobs, ...) are accepted and ignored, so existing
    # client code runs unchanged; the ones it uses are validated.
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    n: int = Field(1, ge=1, le=1, description="Kaizen answers once per request.")
    user: str | None = Field(None, max_length=256)
    kaizen: KaizenOptions = Field(default_factory=KaizenOptions)

    @field_validator("messages")
    @classmethod
    def _has_question(cls, messages: list[ChatMessageIn]) -> list[ChatMessageIn]:
        if not any(m.role == "user" and m.text().strip() for m in messages):
            raise ValueError("needs a user message with text")
        return messages

    def mode(self) -> Mode:
        if self.kaizen.mode is not None:
            return self.kaizen.mode
        match = re.fullmatch(rf"{MODEL_PREFIX}-(\w+)", self.model)
        if match and match.group(1) in Mode.__members__:
            return Mode(match.group(1))
        return Mode.auto

    def _question_at(self) -> int:
        return max(i for i, m in enumerate(self.messages) if m.role == "user" and m.text().strip())

    def question(self) -> str:
        return self.messages[self._question_at()].text()

    def system(self) -> str | None:
        parts = [m.text() for m in self.messages if m.role in ("system", "developer") and m.text().strip()]
        return "\n".join(parts) or None

    def history(self) -> list[Turn]:
        return [
            Turn(role=m.role, content=m.text())
            for m in self.messages[: self._question_at()]
            if m.role in ("user", "assistant") and m.text().strip()
        ]

    def to_event(self, tenant: str) -> InteractionRequest:
        options: dict[str, Any] = {}
        if (tokens := self.max_completion_tokens or self.max_tokens) is not None:
            options["max_new_tokens"] = tokens
        if self.temperature is not None:
            options["temperature"] = self.temperature
        for name in ("top_k", "self_consistency", "max_rounds", "adapter"):
            if (value := getattr(self.kaizen, name)) is not None:
                options[name] = value
        return InteractionRequest(
            tenant=tenant,
            user_id=self.user or "anonymous",
            session_id=self.kaizen.session_id,
            question=self.question(),
            system=self.system(),
            history=self.history(),
            mode=self.mode(),
            knowledge_bases=self.kaizen.knowledge_bases,
            options=RequestOptions(**options),
            stream=self.stream,
        )


def completion_id(response_id: uuid.UUID) -> str:
    """The completion id is the Kaizen response id itself, so ``kaizen feedback <completion.id>`` works."""
    return str(response_id)


def kaizen_extension(response: InteractionResponse) -> dict[str, Any]:
    return {
        "response_id": str(response.response_id),
        "request_id": str(response.request_id),
        "strategy": response.strategy,
        "adapter_version": response.adapter_version,
        "prompt_version": response.prompt_version,
        "citations": [c.model_dump(mode="json") for c in response.citations],
        "latency_ms": response.latency_ms,
    }


def _usage(response: InteractionResponse) -> dict[str, int]:
    prompt = completion = 0
    for step in response.trace:
        if step.step == "generate":
            prompt += int(step.detail.get("prompt_tokens", 0) or 0)
            completion += int(step.detail.get("completion_tokens", 0) or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish_reason(response: InteractionResponse) -> str:
    for step in reversed(response.trace):
        if step.step == "generate" and step.detail.get("finish_reason") == "length":
            return "length"
    return "stop"


def created_of(event: InteractionRequest) -> int:
    """A completion's ``created``: when it was requested, the same in the body and in every chunk of a stream."""
    return int(event.created_at.timestamp())


def completion_body(
    request: ChatCompletionRequest, event: InteractionRequest, response: InteractionResponse
) -> dict[str, Any]:
    return {
        "id": completion_id(response.response_id),
        "object": "chat.completion",
        "created": created_of(event),
        "model": request.model,
        "system_fingerprint": response.adapter_version or "base",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": response.answer, "refusal": None},
                "finish_reason": _finish_reason(response),
                "logprobs": None,
            }
        ],
        "usage": _usage(response),
        "kaizen": kaizen_extension(response),
    }


def sse(data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"data: {payload}\n\n"


class ChunkStream:
    """The server-sent events of one streamed completion: one id and one ``created`` across all its chunks.

    With ``stream_options.include_usage`` every chunk carries ``usage: null`` and one last chunk with no choices
    carries the totals, as OpenAI sends them."""

    def __init__(self, request: ChatCompletionRequest, event: InteractionRequest) -> None:
        self.model = request.model
        self.id = completion_id(InteractionResponse.response_id_for(event.event_id))
        self.created = created_of(event)
        self.include_usage = bool(request.stream_options and request.stream_options.include_usage)
        self.sent = ""

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def first(self) -> str:
        return sse(self._chunk({"role": "assistant", "content": ""}, None))

    def delta(self, text: str) -> str:
        self.sent += text
        return sse(self._chunk({"content": text}, None))

    def finish(self, response: InteractionResponse) -> Iterator[str]:
        """What the deltas have not said of the final answer, the finish chunk (with the Kaizen extension), the
        usage and ``[DONE]``. A strategy that does not stream (chain, agent, self-consistency) says it all here."""
        if response.answer.startswith(self.sent) and len(response.answer) > len(self.sent):
            yield self.delta(response.answer[len(self.sent) :])
        final = self._chunk({}, _finish_reason(response))
        final["kaizen"] = kaizen_extension(response)
        yield sse(final)
        if self.include_usage:
            usage = self._chunk({}, None)
            usage["choices"] = []
            usage["usage"] = _usage(response)
            yield sse(usage)
        yield sse("[DONE]")


def model_body(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "kaizen"}


def models_body() -> dict[str, Any]:
    return {"object": "list", "data": [model_body(m) for m in MODELS]}
