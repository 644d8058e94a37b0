"""Which adapter serves a tenant, as far as the gateway can know it.

Serving replicas do not report to the gateway. Every replica applies the whole adapter topic in order (see
serving/adapter_feed.py), and the gateway reads that same topic: so what the topic says is what every replica that
has caught up runs. The responses the gateway relayed name the adapter that actually answered, which shows a
replica that has not (or refused an adapter and kept the previous one).
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field

from kaizen.events import AdapterEvent
from kaizen.gateway.bus import ObservedState
from kaizen.gateway.store import ResponseStore


class ServingView(BaseModel):
    active: str | None = None
    canary: str | None = None
    canary_share: float | None = None
    events: list[AdapterEvent] = Field(default_factory=list, description="The tenant's adapter events, newest first.")
    answered_by: dict[str, int] = Field(
        default_factory=dict, description="Adapter named by the tenant's recent responses -> how many ('base': none)."
    )
    responses_seen: int = 0


def serving_view(state: ObservedState, responses: ResponseStore, tenant: str, *, recent: int = 200) -> ServingView:
    events = [e for e in state.adapter_events if e.tenant == tenant]
    now = state.rollout.tenant(tenant)  # the state machine serving runs, fed the same topic
    seen = responses.recent(tenant, recent)
    return ServingView(
        active=now.promoted,
        canary=now.canary,
        canary_share=now.share if now.canary else None,
        events=list(reversed(events)),
        answered_by=dict(Counter(r.adapter_version or "base" for r in seen).most_common()),
        responses_seen=len(seen),
    )
