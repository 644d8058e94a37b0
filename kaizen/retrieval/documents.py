"""What a loader produces and what a batch of loads reports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kaizen.retrieval.types import MetadataValue

DocumentFormat = Literal["text", "markdown", "html", "pdf"]


def content_hash(title: str, text: str, metadata: dict[str, MetadataValue]) -> str:
    """sha256 over everything that ends up in a chunk, so a changed title or metadata also re-indexes."""
    canonical = json.dumps({"title": title, "text": text, "metadata": metadata}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class LoadedDocument(BaseModel):
    """One file as text. Headings of any format are written as Markdown ``#`` lines so the chunker sees them."""

    model_config = ConfigDict(frozen=True)

    document_id: str = Field(min_length=1)
    source: str = Field(description="Where it was loaded from (a path).")
    format: DocumentFormat
    title: str = ""
    text: str = Field(min_length=1)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.text, self.metadata)


class LoadFailure(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    reason: str


class LoadResult(BaseModel):
    """A batch of loads: what was read and, per file, what was skipped and why."""

    documents: list[LoadedDocument] = Field(default_factory=list)
    failures: list[LoadFailure] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures
