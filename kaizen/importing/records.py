"""What a parser makes of a file: interactions in one common shape, and the records it skipped with the reason."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import Thumbs, Turn, UtcDatetime


class ImportFormat(StrEnum):
    openai_chat = "openai-chat"
    jsonl = "jsonl"
    csv = "csv"
    langfuse = "langfuse"
    langsmith = "langsmith"


class ImportedFeedback(BaseModel):
    """One judgement of an answer: a thumb, a rating, labels, a correction, a comment (any of them)."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Identity within its interaction: the source's feedback id or a stable name.")
    thumbs: Thumbs | None = None
    rating: int | None = Field(None, ge=1, le=5)
    correction: str | None = None
    comment: str | None = None
    labels: list[str] = Field(default_factory=list)
    user_id: str | None = None
    created_at: UtcDatetime | None = None

    @property
    def empty(self) -> bool:
        return not (self.thumbs or self.rating or self.correction or self.comment or self.labels)


class ImportedInteraction(BaseModel):
    """A question with the answer it got, as one source record states it."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="The record's identity in its file: its own id, else a hash of its content.")
    where: str = Field(description="Where the record is in the file, for the report (line 3, trace abc...).")
    question: str
    answer: str
    system: str | None = None
    history: list[Turn] = Field(default_factory=list)
    user_id: str | None = None
    session_id: str | None = None
    created_at: UtcDatetime | None = None
    feedback: list[ImportedFeedback] = Field(default_factory=list)


class SkippedRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    where: str
    reason: str


class Parsed(BaseModel):
    interactions: list[ImportedInteraction] = Field(default_factory=list)
    skipped: list[SkippedRecord] = Field(default_factory=list)

    def skip(self, where: str, reason: str) -> None:
        self.skipped.append(SkippedRecord(where=where, reason=reason))


class ImportReport(BaseModel):
    """What one ``kaizen import`` did: published, skipped and why."""

    file: str
    format: ImportFormat
    tenant: str
    interactions: int = Field(0, description="Responses published.")
    feedback: int = Field(0, description="Feedback events published.")
    without_feedback: int = Field(0, description="Interactions with no feedback: stored, but they make no example.")
    skipped: list[SkippedRecord] = Field(default_factory=list)
    dry_run: bool = False
    finished_at: datetime | None = None

    def skip_reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.skipped:
            reason = s.reason.split(":", 1)[0]
            counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items()))
