"""The shared message pool role agents publish structured messages to and read what they watch from."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

MessageKind = Literal["task", "plan", "finding", "tool_result", "draft", "review"]


class Message(BaseModel):
    sender: str
    kind: MessageKind
    content: str
    round: int = 0
    data: dict[str, Any] = Field(default_factory=dict)


class MessagePool:
    def __init__(self) -> None:
        self._messages: list[Message] = []

    def publish(self, message: Message) -> Message:
        self._messages.append(message)
        return message

    def watch(self, *kinds: MessageKind) -> list[Message]:
        return [m for m in self._messages if m.kind in kinds]

    def latest(self, kind: MessageKind) -> Message | None:
        found = self.watch(kind)
        return found[-1] if found else None

    @property
    def messages(self) -> list[Message]:
        return list(self._messages)
