"""What the registry records about one adapter version."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import now


class AdapterStatus(StrEnum):
    candidate = "candidate"
    canary = "canary"
    promoted = "promoted"
    retired = "retired"
    rejected = "rejected"


class AdapterManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    base_model: str = Field(description="Name of the base model (directory name or hub id).")
    base_model_hash: str = Field(description="sha256 of the base model's config + tokenizer, see llm.model.")
    dataset_version: str | None = None
    dataset_examples: int = Field(0, ge=0, description="Examples in the dataset version it was trained from.")
    method: str = "lora"
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    regression_metrics: dict[str, float] = Field(default_factory=dict)
    parent_version: str | None = None
    status: AdapterStatus = AdapterStatus.candidate
    checksum: str = Field("", description="sha256 over the adapter's weight and config files.")
    created_at: datetime = Field(default_factory=now)
    tenant: str = "default"
    notes: str = ""
    gate: list[str] = Field(default_factory=list, description="Why the promotion gate passed or refused it.")
