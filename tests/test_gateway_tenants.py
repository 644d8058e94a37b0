"""Two tenants on one platform, end to end through the real broker and the real service processes: each tenant's
promotion serves only its own users, a pin to the other tenant's version is refused, and knowledge bases and
datasets stay per tenant."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaizen.config import Settings
from kaizen.datasets.store import DatasetStore
from kaizen.events import AdapterAction, AdapterEvent
from kaizen.retrieval.lancedb_store import LanceDBStore
from kaizen.retrieval.types import KnowledgeBaseNotFound
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics
from tests.support.serving import AUTH_A, AUTH_B, TOKENS, gateway_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _promote(tenant: str, version: str) -> AdapterEvent:
    return AdapterEvent(
        tenant=tenant,
        action=AdapterAction.promoted,
        version=version,
        manifest_url=f"file:///r/{version}",
        checksum="b" * 64,
    )


def _wait(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.3)


def _ask(http: httpx.Client, auth: dict[str, str], question: str, **options: Any) -> dict[str, Any]:
    body = {"question": question, "mode": "direct", "options": options}
    submitted = http.post("/v1/interactions", json=body, headers=auth)
    assert submitted.status_code == 202, submitted.text
    done = http.get(f"/v1/interactions/{submitted.json()['request_id']}", params={"wait": 60}, headers=auth)
    assert done.status_code == 200, done.text
    return done.json()["response"]


def test_two_tenants_stay_apart_end_to_end(
    kaizen_settings: Settings, run_service: Callable[..., Any], tmp_path: Path
) -> None:
    settings = kaizen_settings.with_overrides(api_tokens=TOKENS, gateway_wait_seconds=60.0)
    topics = Topics.from_settings(settings)
    kb = f"kb-{uuid.uuid4().hex[:6]}"
    with (
        run_service("tests.support.scripted_serving_service", settings=settings) as serving,
        run_service("services.curator", settings=settings),
        run_service("services.indexer", settings=settings),
        gateway_process(settings, tmp_path) as gateway,
        httpx.Client(base_url=gateway.url, timeout=70) as http,
    ):
        with EventProducer(settings) as producer:
            producer.send_many(topics.adapters, [_promote("alpha", "alpha-v1"), _promote("beta", "beta-v1")])

        def promoted() -> dict[str, Any]:
            adapters = httpx.get(serving.url + "/healthz", timeout=2).json()["adapters"]
            return {tenant: state.get("promoted") for tenant, state in adapters.items()}

        _wait(lambda: promoted().get("alpha") == "alpha-v1" and promoted().get("beta") == "beta-v1", "promotions")

        # Each tenant's users get their own tenant's adapter, whoever promoted last.
        answers = {
            name: _ask(http, auth, f"What is the capital of France? ({name})")
            for name, auth in (("alpha", AUTH_A), ("beta", AUTH_B))
        }
        assert answers["alpha"]["adapter_version"] == "alpha-v1" and answers["alpha"]["tenant"] == "alpha"
        assert answers["beta"]["adapter_version"] == "beta-v1" and answers["beta"]["tenant"] == "beta"

        # A pin to the other tenant's version, or to none at all, is refused: never served.
        for pin in ("beta-v1", "alpha-v9"):
            body = {"model": "kaizen", "messages": [{"role": "user", "content": "q"}], "kaizen": {"adapter": pin}}
            refused = http.post("/v1/chat/completions", json=body, headers=AUTH_A)
            assert refused.status_code == 404, refused.text
            assert refused.json()["error"]["code"] == "adapter_not_found"
        assert _ask(http, AUTH_A, "pinned to my own", adapter="alpha-v1")["adapter_version"] == "alpha-v1"

        # Knowledge: each tenant uploads a document of the same name to a knowledge base of the same name.
        for auth, text in ((AUTH_A, "Alpha parcels ship in two days."), (AUTH_B, "Beta parcels ship in a week.")):
            document = {"knowledge_base": kb, "document_id": "shipping", "title": "Shipping", "text": text}
            assert http.post("/v1/documents", json=document, headers=auth).status_code == 202

        # Datasets: each tenant corrects its own answer; feedback on the other tenant's response is refused.
        for name, auth in (("alpha", AUTH_A), ("beta", AUTH_B)):
            correction = {
                "response_id": answers[name]["response_id"],
                "thumbs": "down",
                "correction": f"The capital of France is Paris, says {name}.",
            }
            assert http.post("/v1/feedback", json=correction, headers=auth).status_code == 202
        stray = {"response_id": answers["alpha"]["response_id"], "thumbs": "down", "correction": "Beta says Lyon."}
        assert http.post("/v1/feedback", json=stray, headers=AUTH_B).status_code == 404

        store = DatasetStore.from_settings(settings)

        def staged(tenant: str) -> list[Any]:
            return [r for r in store.staged(tenant) if r.instruction is not None]

        _wait(lambda: len(staged("alpha")) >= 1 and len(staged("beta")) >= 1, "curated examples")
        chunks = LanceDBStore(settings.resolved_vector_store_url.removeprefix("lancedb://"), dimension=384)

        def indexed(tenant: str) -> list[str]:
            try:
                return [c.text for c in chunks.random_chunks(tenant=tenant, knowledge_base=kb, n=10)]
            except KnowledgeBaseNotFound:
                return []

        _wait(lambda: bool(indexed("alpha")) and bool(indexed("beta")), "indexed documents")
        time.sleep(2)  # anything stray would have arrived by now

    assert indexed("alpha") == ["Alpha parcels ship in two days."]
    assert indexed("beta") == ["Beta parcels ship in a week."]
    alpha, beta = staged("alpha"), staged("beta")
    assert [r.instruction.output for r in alpha] == ["The capital of France is Paris, says alpha."]
    assert [r.instruction.output for r in beta] == ["The capital of France is Paris, says beta."]
    assert {r.instruction.tenant for r in alpha} == {"alpha"} and {r.instruction.tenant for r in beta} == {"beta"}
