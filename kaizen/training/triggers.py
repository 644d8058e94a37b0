"""When new data justifies a retrain: N examples arrived since the dataset the last adapter was trained on, and
no retrain for the tenant is queued or running already."""

from __future__ import annotations

from pydantic import BaseModel

from kaizen.registry import AdapterRegistry


class TriggerDecision(BaseModel):
    retrain: bool
    new_examples: int
    dataset_examples: int
    dataset_version: str | None = None  # what a retrain would train on now (previewed, not written)
    last_version: str | None
    threshold: int
    blocked_by: str | None = None  # the tenant's retrain run already queued or running

    def blocked(self, run: str) -> TriggerDecision:
        return self.model_copy(update={"retrain": False, "blocked_by": run})


def new_examples_decision(
    registry: AdapterRegistry,
    *,
    tenant: str,
    dataset_examples: int,
    threshold: int,
    dataset_version: str | None = None,
) -> TriggerDecision:
    """Counted against the latest version of any status: a rejected candidate also consumed that data, so a retrain
    the gate refused does not fire again until new data arrives."""
    last = registry.latest(tenant)
    seen = last.dataset_examples if last else 0
    new = max(0, dataset_examples - seen)
    trained_on_it = last is not None and dataset_version is not None and last.dataset_version == dataset_version
    return TriggerDecision(
        retrain=new >= threshold and not trained_on_it,
        new_examples=new,
        dataset_examples=dataset_examples,
        dataset_version=dataset_version,
        last_version=last.version if last else None,
        threshold=threshold,
    )


def tenant_tag(tenant: str) -> str:
    """The tag every retrain run of a tenant carries, scheduled or triggered: how the watcher finds them."""
    return f"kaizen-tenant:{tenant}"


def retrain_key(tenant: str, dataset_version: str) -> str:
    """One retrain per tenant and dataset: Prefect refuses a second run with the same idempotency key."""
    return f"retrain:{tenant}:{dataset_version}"
