"""Which adapter serves a tenant: what the adapter topic says, what each serving replica says it runs, and what
the relayed responses say answered.

Every replica applies the whole adapter topic in order (kaizen/serving/adapter_feed.py), and the gateway reads that
same topic: so what the topic says is what every replica that has caught up runs. Each replica's /healthz names the
versions it serves per tenant (``settings.serving_urls`` lists the replicas); a replica that refused an adapter and
kept the previous one shows there, and in the responses, which name the adapter that actually answered.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, Field

from kaizen.config import Settings
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


class ReplicaView(BaseModel):
    url: str
    reachable: bool
    ready: bool = False
    promoted: str | None = None
    canary: str | None = None
    error: str = ""


async def _replica(http: httpx.AsyncClient, url: str, tenant: str) -> ReplicaView:
    try:
        reply = await http.get(f"{url.rstrip('/')}/healthz")
        body = reply.json()  # 503 while not ready still says what it serves
    except (httpx.HTTPError, ValueError) as exc:
        return ReplicaView(url=url, reachable=False, error=str(exc) or type(exc).__name__)
    mine = (body.get("adapters") or {}).get(tenant) or {}  # only this tenant's versions leave the gateway
    return ReplicaView(
        url=url, reachable=True, ready=bool(body.get("ready")), promoted=mine.get("promoted"), canary=mine.get("canary")
    )


async def _expand(url: str) -> list[str]:
    """One URL per address its host name resolves to: ``http://serving:6066`` names every replica of a scaled
    compose service (Docker's DNS answers with all of them). An unresolvable name stays, to be shown unreachable."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    if host is None:
        return [url]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except OSError:
        return [url]
    addresses = sorted({str(info[4][0]) for info in infos})
    if len(addresses) < 2:
        return [url]
    return [urlunsplit(parts._replace(netloc=f"{address}:{port}")) for address in addresses]


async def replicas(settings: Settings, tenant: str, *, timeout: float = 2.0) -> list[ReplicaView]:
    """What each serving replica in ``settings.serving_urls`` says it runs for ``tenant``, asked all at once."""
    if not settings.serving_urls:
        return []
    urls = [u for expanded in await asyncio.gather(*map(_expand, settings.serving_urls)) for u in expanded]
    async with httpx.AsyncClient(timeout=timeout) as http:
        return list(await asyncio.gather(*(_replica(http, url, tenant) for url in urls)))
