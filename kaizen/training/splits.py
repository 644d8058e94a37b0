"""Deterministic splits by example id, and the per-tenant regression set that no training run ever sees."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from kaizen.training.data import TrainingExample
from kaizen.training.regression import RegressionStore, earliest

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


def make_splits(
    examples: Sequence[TrainingExample],
    *,
    heldout_fraction: float,
    regression_fraction: float,
    store: RegressionStore | None = None,
    tenant: str = "default",
    accepted: Sequence[str] = (),
) -> Splits:
    """Train / held-out / regression; with a store, the tenant's frozen regression set replaces the hashed one.

    ``accepted`` are the group keys of accepted answers, oldest first: when the hashed bucket is still empty (a
    tenant's first, small dataset), the earliest of them seed the regression set, leaving at least one
    interaction to train on.
    """
    # Split by interaction, not by example: the instruction and RAFT forms of one question must not sit on both
    # sides, or held-out would measure recall of a question trained on.
    by_split: dict[Split, list[TrainingExample]] = {s: [] for s in Split}
    for ex in examples:
        by_split[
            split_of(ex.split_key, heldout_fraction=heldout_fraction, regression_fraction=regression_fraction)
        ].append(ex)
    regression = by_split[Split.regression]
    if store is not None:
        groups = len({e.split_key for e in examples})
        count = max(0, min(math.ceil(regression_fraction * groups), groups - 1))
        regression = store.load_or_create(tenant, regression, fallback=earliest(examples, accepted, count))
    frozen = {e.split_key for e in regression}
    # Examples hashed into the regression bucket after the set was frozen still never reach training: they are
    # evaluated as held-out instead.
    heldout = by_split[Split.heldout] + [e for e in by_split[Split.regression] if e.split_key not in frozen]
    train = [e for e in by_split[Split.train] if e.split_key not in frozen]
    heldout = [e for e in heldout if e.split_key not in frozen]
    return Splits(train=train, heldout=heldout, regression=regression)
