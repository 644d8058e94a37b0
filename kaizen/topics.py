"""Topic names, in one place, derived from the configured prefix."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from kaizen import events as ev
from kaizen.config import Settings


class TopicSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    event: str
    partitions: int
    compacted: bool = False
    retention_ms: int | None = None


class Topics(BaseModel):
    """Every topic Kaizen uses. Build it with ``Topics.from_settings``."""

    model_config = ConfigDict(frozen=True)

    prefix: str
    partitions: int = 4

    def _name(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    @property
    def requests(self) -> str:
        return self._name("interactions.requests")

    @property
    def responses(self) -> str:
        return self._name("interactions.responses")

    @property
    def response_deltas(self) -> str:
        return self._name("interactions.deltas")

    @property
    def feedback(self) -> str:
        return self._name("feedback")

    @property
    def documents(self) -> str:
        return self._name("documents")

    @property
    def instructions(self) -> str:
        return self._name("datasets.instructions")

    @property
    def raft(self) -> str:
        return self._name("datasets.raft")

    @property
    def adapters(self) -> str:
        return self._name("adapters")

    @property
    def dead_letters(self) -> str:
        return self._name("dead-letters")

    def specs(self) -> list[TopicSpec]:
        p = self.partitions
        return [
            TopicSpec(name=self.requests, event=ev.InteractionRequest.kind, partitions=p),
            TopicSpec(name=self.responses, event=ev.InteractionResponse.kind, partitions=p),
            # Short retention: deltas matter only while a client watches; the response is the record.
            TopicSpec(name=self.response_deltas, event=ev.InteractionDelta.kind, partitions=p, retention_ms=3_600_000),
            TopicSpec(name=self.feedback, event=ev.Feedback.kind, partitions=p),
            TopicSpec(name=self.documents, event=ev.DocumentEvent.kind, partitions=p),
            TopicSpec(name=self.instructions, event=ev.InstructionExample.kind, partitions=p),
            TopicSpec(name=self.raft, event=ev.RaftExample.kind, partitions=p),
            # One partition: adapter events must be seen in order by every serving replica.
            TopicSpec(name=self.adapters, event=ev.AdapterEvent.kind, partitions=1, compacted=False),
            TopicSpec(name=self.dead_letters, event=ev.DeadLetter.kind, partitions=1),
        ]

    def names(self) -> list[str]:
        return [s.name for s in self.specs()]

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(prefix=settings.topic_prefix, partitions=settings.topic_partitions)
