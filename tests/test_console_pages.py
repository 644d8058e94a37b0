"""The console's pages, in process over a bus double, with alpha and beta seeded by the real stores: each page shows
the token's tenant and nothing of the other; without a known token every page sends the browser to log in."""

from __future__ import annotations

import re

import httpx
import pytest

from kaizen.config import Settings
from kaizen.events import AdapterAction, Mode
from kaizen.registry import AdapterManifest, AdapterRegistry
from kaizen.registry.events import adapter_event_for
from kaizen.streaming.broker import free_port
from tests.support.console import Seeded
from tests.support.gateway_bus import ScriptedBus

PAGES = ["/console/", "/console/knowledge", "/console/datasets", "/console/adapters", "/console/flywheel"]
TOKEN = {"alpha": "token-a", "beta": "token-b"}
OTHER = {"alpha": "beta", "beta": "alpha"}


def marks(seeded: Seeded) -> list[str]:
    """Strings only this tenant's objects contain."""
    return [
        seeded.knowledge_base,
        f"{seeded.tenant} Stoat",
        *(v.version for v in seeded.versions),
        *(m.version for m in seeded.adapters),
    ]


def announce(
    bus: ScriptedBus, settings: Settings, manifest: AdapterManifest, action: AdapterAction, **kw: float
) -> None:
    """The adapter event as the registry's operations publish it, read by the gateway."""
    bus.state.on_adapter(adapter_event_for(AdapterRegistry.from_settings(settings), manifest, action, **kw))


async def login(client: httpx.AsyncClient, tenant: str) -> None:
    reply = await client.post("/console/api/login", json={"token": TOKEN[tenant]})
    assert reply.status_code == 200 and reply.json() == {"tenant": tenant}


@pytest.mark.parametrize("path", [*PAGES, "/console/datasets?version=latest", "/console/knowledge/kb/chunks/x#0"])
@pytest.mark.parametrize("cookie", [None, "token-wrong"])
async def test_pages_send_the_browser_to_log_in_without_a_known_token(
    console_client: httpx.AsyncClient, path: str, cookie: str | None
) -> None:
    if cookie:
        console_client.cookies.set("kaizen_console_token", cookie, path="/console")
    reply = await console_client.get(path)
    assert reply.status_code == 303 and reply.headers["location"] == "/console/login"
    page = await console_client.get("/console/login")
    assert page.status_code == 200 and 'id="login-form"' in page.text and 'id="tenant"' not in page.text


async def test_login_sets_an_http_only_cookie_and_refuses_unknown_tokens(console_client: httpx.AsyncClient) -> None:
    assert (await console_client.post("/console/api/login", json={"token": "nope"})).status_code == 401
    assert (await console_client.post("/console/api/login", json={"token": ""})).status_code == 400
    reply = await console_client.post("/console/api/login", json={"token": "token-a"})
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert '<b id="tenant">alpha</b>' in (await console_client.get("/console/")).text
    await console_client.post("/console/api/logout")
    console_client.cookies.clear()  # what the browser does with the expired cookie
    assert (await console_client.get("/console/")).status_code == 303


@pytest.mark.parametrize("tenant", ["alpha", "beta"])
async def test_every_page_shows_only_the_tokens_tenant(
    console_settings: Settings,
    console_client: httpx.AsyncClient,
    console_bus: ScriptedBus,
    seeded: dict[str, Seeded],
    tenant: str,
) -> None:
    for data in seeded.values():  # both tenants' adapter topic, as the gateway reads it
        announce(console_bus, console_settings, data.adapters[0], AdapterAction.promoted)
    await login(console_client, tenant)
    other = seeded[OTHER[tenant]]
    for path in PAGES:
        page = (await console_client.get(path)).text
        assert f'<b id="tenant">{tenant}</b>' in page
        assert not [m for m in marks(other) if m in page], path
    mine = seeded[tenant]
    assert mine.knowledge_base in (await console_client.get("/console/knowledge")).text
    assert mine.versions[-1].version in (await console_client.get("/console/datasets")).text
    assert f'id="serving-active">{mine.adapters[0].version}<' in (await console_client.get("/console/adapters")).text
    # The other tenant's objects by address: as unknown as objects that do not exist.
    chunk = other.chunks[0]
    assert (
        await console_client.get(f"/console/knowledge/{other.knowledge_base}/chunks/{chunk.chunk_id}")
    ).status_code == 404
    assert (await console_client.get(f"/console/datasets?version={other.versions[0].version}")).status_code == 404
    diff = f"/console/datasets?old={other.versions[0].version}&new={mine.versions[0].version}"
    assert (await console_client.get(diff)).status_code == 404


async def test_chat_page_offers_every_mode_and_the_tenants_knowledge_bases(
    console_client: httpx.AsyncClient, seeded: dict[str, Seeded]
) -> None:
    await login(console_client, "alpha")
    page = (await console_client.get("/console/")).text
    modes = re.findall(r'<option value="(\w+)">\1</option>', page)
    assert modes[: len(Mode)] == [m.value for m in Mode]
    assert f'<option value="{seeded["alpha"].knowledge_base}">' in page
    for control in ('thumbs="up"', 'thumbs="down"', 'id="rating"', 'id="correction"', 'id="source-doc"'):
        assert control in page


async def test_knowledge_page_counts_documents_and_chunks_and_the_chunk_page_shows_one(
    console_client: httpx.AsyncClient, seeded: dict[str, Seeded]
) -> None:
    await login(console_client, "alpha")
    alpha = seeded["alpha"]
    page = (await console_client.get("/console/knowledge")).text
    assert re.search(rf"{alpha.knowledge_base}</td><td class=\"num\">2</td><td class=\"num\">4</td>", page)
    chunk = alpha.chunks[1]
    shown = await console_client.get(
        f"/console/knowledge/{alpha.knowledge_base}/chunks/{chunk.chunk_id.replace('#', '%23')}"
    )
    assert shown.status_code == 200 and chunk.text in shown.text and chunk.document_id in shown.text


async def test_datasets_page_shows_lineage_counts_pii_rejections_examples_and_a_diff(
    console_client: httpx.AsyncClient, seeded: dict[str, Seeded]
) -> None:
    await login(console_client, "alpha")
    first, second = seeded["alpha"].versions
    page = (await console_client.get("/console/datasets")).text
    # Newest first, each linking its parent.
    assert page.index(second.version) < page.index(first.version)
    assert f'href="/console/datasets?version={first.version}"><code>{first.version}</code></a></td>' in page
    detail = page[page.index('id="version-detail"') :]
    assert "EMAIL 1" in detail and "refusal 1" in detail  # PII removed by type, rejections by reason
    assert "[EMAIL]" in detail and "hr@example.com" not in page
    assert 'class="pill warn">corrected' in detail and 'class="pill bad">rejected pair' in detail
    assert detail.count('class="oracle"') == second.counts.raft_oracle_included
    assert 'class="distractor"' in detail
    for fmt in ("chat", "raft", "jsonl", "stats"):
        assert f"/console/api/datasets/{second.version}/export?fmt={fmt}" in detail
    diff = (await console_client.get(f"/console/datasets?old={first.version}&new={second.version}")).text
    section = diff[diff.index('id="diff"') : diff.index('id="version-detail"')]
    assert "3 added, 0 removed, 0 changed" in section
    assert "Which form requests alpha parental leave?" in section
    assert "How much does the alpha Stoat S6 cost?" not in section  # in both versions


async def test_adapters_page_shows_history_gate_dataset_serving_and_replicas(
    console_settings: Settings, console_client: httpx.AsyncClient, console_bus: ScriptedBus, seeded: dict[str, Seeded]
) -> None:
    console_settings.serving_urls = [f"http://127.0.0.1:{free_port()}"]  # a replica that does not answer
    promoted, candidate, rejected = seeded["alpha"].adapters
    announce(console_bus, console_settings, promoted, AdapterAction.promoted)
    announce(console_bus, console_settings, candidate, AdapterAction.canary, canary_share=0.25)
    await login(console_client, "alpha")
    page = (await console_client.get("/console/adapters")).text
    assert f'id="serving-canary">{candidate.version}</b> for 25% of users' in page
    assert "unreachable" in page and console_settings.serving_urls[0] in page
    rows = {
        v: page[page.index(f'<tr data-version="{v}">') :].split("</tr>")[0]
        for v in (candidate.version, rejected.version)
    }
    assert candidate.dataset_version and candidate.dataset_version in rows[candidate.version]
    assert "closed_book.contains 0.470 &gt; 0.410: promote" in rows[candidate.version]
    assert "<b>closed_book.contains 0.470</b>" in rows[candidate.version]  # the gate's metric, first
    assert 'class="promote"' in rows[candidate.version] and 'class="canary"' in rows[candidate.version]
    assert "refused" in rows[rejected.version] and 'class="promote"' not in rows[rejected.version]


async def test_flywheel_page_charts_cycles_and_registry_metrics(
    console_client: httpx.AsyncClient, seeded: dict[str, Seeded]
) -> None:
    await login(console_client, "alpha")
    page = (await console_client.get("/console/flywheel")).text
    assert page.count("<svg") == 2
    assert "Held-out accuracy per cycle" in page and "users&#x27; stream" in page
    cycles = page[page.index('id="cycles"') :]
    assert "50% (5/10)" in cycles and "80% (8/10)" in cycles and "56% (9/16)" in cycles and "12 / 9" in cycles
    for adapter in seeded["alpha"].adapters:
        assert f">{adapter.version}</text>" in page  # a point of the registry chart
    await login(console_client, "beta")
    beta = (await console_client.get("/console/flywheel")).text
    assert "No demo report for this tenant" in beta and beta.count("<svg") == 1
    assert "No Prefect server known" in beta


async def test_flywheel_page_says_when_prefect_does_not_answer(
    console_settings: Settings, console_client: httpx.AsyncClient
) -> None:
    console_settings.prefect_api_url = f"http://127.0.0.1:{free_port()}/api"
    await login(console_client, "alpha")
    page = (await console_client.get("/console/flywheel")).text
    assert "does not answer" in page and console_settings.prefect_api_url.removesuffix("/api") in page
