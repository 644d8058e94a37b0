"""When new data justifies a retrain: N examples arrived since the dataset the last adapter was trained on."""

from __future__ import annotations

from pydantic import BaseModel

from kaizen.registry import AdapterRegistry


class TriggerDecision(BaseModel):
    retrain: bool
    new_examples: int
    dataset_examples: int
    last_version: str | None
    threshold: int


def new_examples_decision(
    registry: AdapterRegistry, *, tenant: str, dataset_examples: int, threshold: int
) -> TriggerDecision:
    """Counted against the latest version of any status: a rejected candidate also consumed that data."""
    last = registry.latest(tenant)
    seen = last.dataset_examples if last else 0
    new = max(0, dataset_examples - seen)
    return TriggerDecision(
        retrain=new >= threshold,
        new_examples=new,
        dataset_examples=dataset_examples,
        last_version=last.version if last else None,
        threshold=threshold,
    )
