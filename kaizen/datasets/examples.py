"""A dataset version's examples in memory: what training reads from a version (or builds from a list)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import InstructionExample, RaftExample

Example = InstructionExample | RaftExample


class DatasetSnapshot(BaseModel):
    """One immutable dataset version, as training sees it."""

    model_config = ConfigDict(frozen=True)

    version: str
    tenant: str = "default"
    examples: list[Example] = Field(default_factory=list)
    path: Path | None = None

    @property
    def size(self) -> int:
        return len(self.examples)


def content_line(example: Example) -> str:
    """An example as its content: a re-sent event (new event id, new time) is the same data."""
    return example.model_dump_json(exclude={"event_id", "created_at"})


def snapshot_of(examples: Sequence[Example], *, tenant: str = "default") -> DatasetSnapshot:
    """An in-memory dataset; its version is a digest of the examples' content (not of event ids or times)."""
    digest = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.example_id):
        digest.update(content_line(ex).encode())
    return DatasetSnapshot(version=f"mem-{digest.hexdigest()[:12]}", tenant=tenant, examples=list(examples))
