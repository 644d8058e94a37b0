"""The console's JSON actions, in process over a bus double: each sends the same event as the API or the CLI, for
the token's tenant only, and refuses without a known token."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from kaizen.config import Settings
from kaizen.datasets.store import DatasetStore
from kaizen.events import AdapterAction, AdapterEvent, DocumentEvent, Feedback, InteractionRequest, Mode
from kaizen.registry import AdapterRegistry, AdapterStatus
from tests.support.console import Seeded, citation
from tests.support.gateway_bus import ScriptedBus

A = {"Authorization": "Bearer token-a"}
ACTIONS = [
    ("POST", "/console/api/ask", {"question": "q"}),
    ("POST", "/console/api/feedback", {"response_id": str(uuid.uuid4()), "thumbs": "up"}),
    ("GET", "/console/api/curated", None),
    ("POST", "/console/api/knowledge/kb/upload?filename=a.md", None),
    ("GET", "/console/api/knowledge/search?q=x&kb=kb", None),
    ("POST", "/console/api/datasets/snapshot", None),
    ("GET", "/console/api/datasets/latest/export", None),
    ("POST", "/console/api/adapters/v1/promote", None),
    ("POST", "/console/api/adapters/v1/canary", {"share": 0.5}),
    ("POST", "/console/api/adapters/rollback", None),
]


async def login(client: httpx.AsyncClient, token: str = "token-a") -> None:
    assert (await client.post("/console/api/login", json={"token": token})).status_code == 200


def sse(text: str) -> list[tuple[str, dict[str, object]]]:
    events, name = [], ""
    for line in text.splitlines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


@pytest.mark.parametrize(("method", "path", "body"), ACTIONS)
@pytest.mark.parametrize("auth", [{}, {"Authorization": "Bearer nope"}, {"Cookie": "kaizen_console_token=nope"}])
async def test_actions_refuse_without_a_known_token(
    console_client: httpx.AsyncClient,
    console_bus: ScriptedBus,
    method: str,
    path: str,
    body: object,
    auth: dict[str, str],
) -> None:
    reply = await console_client.request(method, path, json=body, headers=auth)
    assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
    assert console_bus.sent == []


async def test_ask_streams_the_answer_with_citations_strategy_and_adapter(
    console_client: httpx.AsyncClient, console_bus: ScriptedBus, seeded: dict[str, Seeded]
) -> None:
    alpha = seeded["alpha"]
    console_bus.citations = [citation(alpha.chunks[0])]
    await login(console_client)
    body = {"question": "How much is the Stoat?", "mode": "rag", "knowledge_bases": [alpha.knowledge_base]}
    reply = await console_client.post("/console/api/ask", json=body)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    events = sse(reply.text)
    names = [n for n, _ in events]
    assert names[0] == "accepted" and names[-1] == "response" and names.count("delta") >= 2
    deltas = "".join(str(d["text"]) for n, d in events if n == "delta")
    final = events[-1][1]["response"]
    assert isinstance(final, dict) and deltas == final["answer"] == "answer to How much is the Stoat?"
    assert final["strategy"] == "direct" and final["adapter_version"] == "v1"
    assert final["citations"][0]["quote"] == alpha.chunks[0].text
    (topic, request), *_ = console_bus.sent
    assert topic == console_bus.topics.requests and isinstance(request, InteractionRequest)
    assert (request.tenant, request.mode, request.knowledge_bases, request.stream) == (
        "alpha",
        Mode.rag,
        [alpha.knowledge_base],
        True,
    )


async def test_feedback_sends_the_apis_event_and_not_on_another_tenants_answer(
    console_client: httpx.AsyncClient, console_bus: ScriptedBus
) -> None:
    await login(console_client)
    accepted = sse((await console_client.post("/console/api/ask", json={"question": "q"})).text)[0][1]
    fields = {"thumbs": "down", "rating": 2, "correction": "better", "source_document_ids": ["doc-1"]}
    body = {"response_id": accepted["response_id"], "user_id": "console", **fields}
    assert (await console_client.post("/console/api/feedback", json=body)).status_code == 202
    assert (await console_client.post("/v1/feedback", json=body, headers=A)).status_code == 202
    console_side, api_side = [e for _, e in console_bus.sent if isinstance(e, Feedback)]
    ignore = {"event_id", "created_at"}
    assert console_side.model_dump(exclude=ignore) == api_side.model_dump(exclude=ignore)
    assert console_side.tenant == "alpha" and console_side.correction == "better"
    await login(console_client, "token-b")
    assert (await console_client.post("/console/api/feedback", json=body)).status_code == 404
    bad = await console_client.post("/console/api/feedback", json={**body, "rating": 9})
    assert bad.status_code == 400 and "rating" in bad.text


async def test_curated_lists_the_tenants_results_and_filters_by_response(
    console_client: httpx.AsyncClient, console_settings: Settings
) -> None:
    staged = list(DatasetStore.from_settings(console_settings).staged("alpha"))
    response_id = next(r.instruction.response_id for r in staged if r.instruction)
    await login(console_client)
    everything = (await console_client.get("/console/api/curated")).json()
    assert len(everything) == len(staged) and all("beta" not in json.dumps(r) for r in everything)
    one = (await console_client.get("/console/api/curated", params={"response_id": str(response_id)})).json()
    assert [r["instruction"]["response_id"] for r in one] == [str(response_id)]
    await login(console_client, "token-b")
    assert (await console_client.get("/console/api/curated", params={"response_id": str(response_id)})).json() == []


async def test_upload_reads_the_file_like_ingest_and_sends_a_document_event(
    console_client: httpx.AsyncClient, console_bus: ScriptedBus
) -> None:
    await login(console_client)
    text = "# Fleet prices\n\nThe Stoat S6 costs 47,150 dollars.\n"
    reply = await console_client.post(
        "/console/api/knowledge/fleet/upload", params={"filename": "../prices.md"}, content=text.encode()
    )
    assert reply.status_code == 202, reply.text
    (topic, event), *_ = console_bus.sent
    assert topic == console_bus.topics.documents and isinstance(event, DocumentEvent)
    assert (event.tenant, event.knowledge_base, event.document_id) == ("alpha", "fleet", "upload/prices.md")
    assert "47,150 dollars" in event.text and event.metadata["source"] == "upload:prices.md"
    refused = [
        ("fleet", "virus.exe", b"MZ", "unsupported file type"),
        ("bad name!", "a.md", b"x", "knowledge base"),
        ("fleet", "broken.pdf", b"not a pdf", "broken.pdf"),
    ]
    for kb, name, content, message in refused:
        reply = await console_client.post(
            f"/console/api/knowledge/{kb}/upload", params={"filename": name}, content=content
        )
        assert reply.status_code == 422 and message in reply.text, reply.text
    assert len(console_bus.sent) == 1


@pytest.mark.parametrize(("mode", "alpha"), [("hybrid", 0.5), ("vector", 0.5), ("keyword", 0.5), ("hybrid", 0.0)])
async def test_search_returns_scored_chunks_of_the_tenant_only(
    console_client: httpx.AsyncClient, seeded: dict[str, Seeded], mode: str, alpha: float
) -> None:
    kb = seeded["alpha"].knowledge_base
    await login(console_client)
    params = {"q": "Osprey tank litres", "kb": kb, "mode": mode, "alpha": alpha, "top_k": 3}
    hits = (await console_client.get("/console/api/knowledge/search", params=params)).json()
    assert hits and hits[0]["chunk"]["text"] == "The alpha Osprey O5 tank holds 9.5 litres."
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert all(h["chunk"]["tenant"] == "alpha" for h in hits)
    await login(console_client, "token-b")
    assert (await console_client.get("/console/api/knowledge/search", params=params)).status_code == 404
    bad = await console_client.get("/console/api/knowledge/search", params={**params, "alpha": 2})
    assert bad.status_code == 400


async def test_snapshot_and_exports_of_the_tenants_versions(
    console_client: httpx.AsyncClient, seeded: dict[str, Seeded]
) -> None:
    await login(console_client)
    latest = seeded["alpha"].versions[-1]
    made = (await console_client.post("/console/api/datasets/snapshot")).json()
    assert made["version"] == latest.version  # nothing new curated: the same version
    chat = await console_client.get(f"/console/api/datasets/{latest.version}/export", params={"fmt": "chat"})
    assert chat.status_code == 200 and latest.version in chat.headers["content-disposition"]
    lines = [json.loads(line) for line in chat.text.splitlines()]
    assert len(lines) == latest.counts.instructions - latest.counts.rejected_pairs
    assert all(m["messages"] for m in lines)
    raft = await console_client.get("/console/api/datasets/latest/export", params={"fmt": "raft"})
    assert len(raft.text.splitlines()) == latest.counts.raft
    stats = (await console_client.get(f"/console/api/datasets/{latest.version}/export", params={"fmt": "stats"})).json()
    assert stats and "alpha" in json.dumps(stats)
    beta = seeded["beta"].versions[-1].version
    assert (await console_client.get(f"/console/api/datasets/{beta}/export")).status_code == 404
    assert (await console_client.get("/console/api/datasets/nope/export")).status_code == 404


async def test_promote_canary_and_rollback_publish_the_clis_events_for_the_tenant(
    console_client: httpx.AsyncClient, console_bus: ScriptedBus, console_settings: Settings, seeded: dict[str, Seeded]
) -> None:
    registry = AdapterRegistry.from_settings(console_settings)
    promoted, candidate, _rejected = (m.version for m in seeded["alpha"].adapters)
    await login(console_client)
    for share in (0, 1.5):
        assert (
            await console_client.post(f"/console/api/adapters/{candidate}/canary", json={"share": share})
        ).status_code == 400
    canary = await console_client.post(f"/console/api/adapters/{candidate}/canary", json={"share": 0.3})
    assert canary.status_code == 200 and canary.json()["canary_share"] == 0.3
    assert registry.get(candidate).status == AdapterStatus.canary
    assert (await console_client.post(f"/console/api/adapters/{candidate}/promote")).status_code == 200
    assert (
        registry.get(candidate).status == AdapterStatus.promoted
        and registry.get(promoted).status == AdapterStatus.retired
    )
    back = await console_client.post("/console/api/adapters/rollback")
    assert back.status_code == 200 and back.json()["version"] == promoted
    events = [e for t, e in console_bus.sent if t == console_bus.topics.adapters]
    assert all(isinstance(e, AdapterEvent) and e.tenant == "alpha" for e in events)
    assert [(e.action, e.version) for e in events] == [
        (AdapterAction.canary, candidate),
        (AdapterAction.promoted, candidate),
        (AdapterAction.rollback, promoted),
    ]
    assert (await console_client.post("/console/api/adapters/rollback")).status_code == 409  # nothing to go back to
    # Another tenant's version is as unknown as a missing one, and nothing is published for it.
    beta = seeded["beta"].adapters[1].version
    for path in (f"/console/api/adapters/{beta}/promote", "/console/api/adapters/nope/promote"):
        assert (await console_client.post(path)).status_code == 404
    assert (await console_client.post(f"/console/api/adapters/{beta}/canary", json={"share": 0.5})).status_code == 404
    assert registry.get(beta).status == AdapterStatus.candidate and len(console_bus.sent) == 3
