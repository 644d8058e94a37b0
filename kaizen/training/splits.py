"""Deterministic splits by example id, and the per-tenant regression set that no training run ever sees."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from kaizen.training.data import TrainingExample

_SALT = "kaizen-split-v1"


class Split(StrEnum):
    train = "train"
    heldout = "heldout"
    regression = "regression"


def bucket(example_id: str) -> float:
    """A number in [0, 1) fixed by the id alone: the same example lands in the same split in every run."""
    digest = hashlib.sha256(f"{_SALT}:{example_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(example_id: str, *, heldout_fraction: float, regression_fraction: float) -> Split:
    b = bucket(example_id)
    if b < regression_fraction:
        return Split.regression
    if b < regression_fraction + heldout_fraction:
        return Split.heldout
    return Split.train


class Splits(BaseModel):
    model_config = ConfigDict(frozen=True)

    train: list[TrainingExample]
    heldout: list[TrainingExample]
    regression: list[TrainingExample]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "heldout": len(self.heldout), "regression": len(self.regression)}


class RegressionStore:
    """Frozen regression sets, one JSONL file per tenant, next to the adapters they judge.

    The set is written the first time a tenant is retrained and never changes afterwards, so every adapter version
    is compared on the same questions.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, tenant: str) -> Path:
        return self.root / f"{tenant}.jsonl"

    def load(self, tenant: str) -> list[TrainingExample] | None:
        path = self.path(tenant)
        if not path.exists():
            return None
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        return [TrainingExample.model_validate_json(line) for line in lines]

    def save(self, tenant: str, examples: Sequence[TrainingExample]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(tenant)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(e.model_dump_json() + "\n" for e in examples))
        os.replace(tmp, path)

    def load_or_create(self, tenant: str, candidates: Sequence[TrainingExample]) -> list[TrainingExample]:
        existing = self.load(tenant)
        if existing is not None:
            return existing
        if not candidates:  # too little data to spare any yet: freeze the set once there is some
            return []
        self.save(tenant, candidates)
        return list(candidates)


def make_splits(
    examples: Sequence[TrainingExample],
    *,
    heldout_fraction: float,
    regression_fraction: float,
    store: RegressionStore | None = None,
    tenant: str = "default",
) -> Splits:
    """Train / held-out / regression; with a store, the tenant's frozen regression set replaces the hashed one."""
    # Split by interaction, not by example: the instruction and RAFT forms of one question must not sit on both
    # sides, or held-out would measure recall of a question trained on.
    by_split: dict[Split, list[TrainingExample]] = {s: [] for s in Split}
    for ex in examples:
        by_split[
            split_of(ex.split_key, heldout_fraction=heldout_fraction, regression_fraction=regression_fraction)
        ].append(ex)
    regression = by_split[Split.regression]
    if store is not None:
        regression = store.load_or_create(tenant, regression)
    frozen = {e.split_key for e in regression}
    # Examples hashed into the regression bucket after the set was frozen still never reach training: they are
    # evaluated as held-out instead.
    heldout = by_split[Split.heldout] + [e for e in by_split[Split.regression] if e.split_key not in frozen]
    train = [e for e in by_split[Split.train] if e.split_key not in frozen]
    heldout = [e for e in heldout if e.split_key not in frozen]
    return Splits(train=train, heldout=heldout, regression=regression)
