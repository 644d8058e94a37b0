"""The per-tenant regression set: what used to work, frozen at a tenant's first retrain and never trained on.

It exists from day one. A new tenant has too few examples for the hashed regression bucket to hold any, so the
set starts as a small general-ability set shipped with Kaizen (questions the base model answers: an adapter that
stops answering them has broken more than it learned) plus the tenant's earliest accepted answers (what the
served model already got right for this tenant).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kaizen.training.data import TrainingExample

GENERAL_PREFIX = "general:"


class GeneralQuestion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1, description="Short; scored by containment in the answer.")


@cache
def _general() -> tuple[GeneralQuestion, ...]:
    text = files("kaizen").joinpath("data/regression/general.jsonl").read_text(encoding="utf-8")
    return tuple(GeneralQuestion.model_validate_json(line) for line in text.splitlines() if line.strip())


def general_set(tenant: str, size: int | None = None) -> list[TrainingExample]:
    """The shipped general-ability questions (the first ``size``) as closed-book examples of ``tenant``."""
    chosen = _general() if size is None else _general()[:size]
    return [
        TrainingExample(
            example_id=f"{GENERAL_PREFIX}{q.id}",
            group_id=f"{GENERAL_PREFIX}{q.id}",
            tenant=tenant,
            kind="instruction",
            question=q.question,
            reference=q.answer,
        )
        for q in chosen
    ]


def earliest(examples: Sequence[TrainingExample], accepted: Sequence[str], count: int) -> list[TrainingExample]:
    """The examples of the first ``count`` interactions in ``accepted`` (group keys, oldest first)."""
    wanted = list(dict.fromkeys(accepted))[:count]
    order = {key: i for i, key in enumerate(wanted)}
    return sorted((e for e in examples if e.split_key in order), key=lambda e: (order[e.split_key], e.example_id))


class RegressionStore:
    """Frozen regression sets, one JSONL file per tenant, next to the adapters they judge.

    The set is written the first time a tenant is retrained and never changes afterwards, so every adapter version
    is compared on the same questions.
    """

    def __init__(self, root: Path, *, general: int | None = None) -> None:
        self.root = Path(root)
        self.general = general

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

    def load_or_create(
        self, tenant: str, candidates: Sequence[TrainingExample], *, fallback: Sequence[TrainingExample] = ()
    ) -> list[TrainingExample]:
        """The frozen set; at the first call, ``candidates`` (else ``fallback``) plus the general set, frozen."""
        existing = self.load(tenant)
        if existing is not None:
            return existing
        chosen = [*(candidates or fallback), *general_set(tenant, self.general)]
        if not chosen:  # no general set configured and no data to spare yet: freeze once there is some
            return []
        self.save(tenant, chosen)
        return chosen
