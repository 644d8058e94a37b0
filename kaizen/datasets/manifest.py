"""What a dataset version is: its identity (a content hash), lineage and counts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import UtcDatetime

INSTRUCTIONS_FILE = "instructions.jsonl"
RAFT_FILE = "raft.jsonl"
MANIFEST_FILE = "manifest.json"
VERSION_CHARS = 16


class DatasetCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    feedback: int = Field(0, description="Feedback events curated into this version (examples or not).")
    instructions: int = 0
    accepted: int = Field(0, description="Examples whose answer was accepted as it was.")
    corrected: int = Field(0, description="Examples whose target is a user's correction.")
    rejected_pairs: int = Field(0, description="Rejected answers kept for preference tuning only.")
    raft: int = 0
    raft_oracle_included: int = 0

    @property
    def examples(self) -> int:
        """What training reads: instruction and RAFT examples."""
        return self.instructions + self.raft


class DatasetSources(BaseModel):
    model_config = ConfigDict(frozen=True)

    strategies: dict[str, int] = Field(default_factory=dict)
    knowledge_bases: dict[str, int] = Field(default_factory=dict)
    documents: int = Field(0, description="Distinct source documents cited by the examples.")
    first_feedback_at: datetime | None = None
    last_feedback_at: datetime | None = None


class DatasetManifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str = Field(description="The first characters of content_hash.")
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    tenant: str
    parent: str | None = Field(None, description="The tenant's previous version.")
    created_at: UtcDatetime
    format: str = "jsonl"
    source: str = Field("curation", description="What wrote the examples: curation, bootstrap, import.")
    counts: DatasetCounts = Field(default_factory=DatasetCounts)
    sources: DatasetSources = Field(default_factory=DatasetSources)
    filters_applied: list[str] = Field(default_factory=list)
    rejections: dict[str, int] = Field(default_factory=dict, description="Feedback without an example, by reason.")
    pii_counts: dict[str, int] = Field(default_factory=dict, description="Replacements made, by PII type.")
    files: dict[str, str] = Field(default_factory=dict, description="File name -> sha256.")
