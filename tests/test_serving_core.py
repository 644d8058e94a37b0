"""ServingCore and ServingAdapters with a scripted model and loader: idempotency, failures, adapter events.

The same behaviour runs through the real broker and model in tests/test_serving_service.py."""

from __future__ import annotations

import asyncio
import functools
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kaizen.events import (
    AdapterAction,
    AdapterEvent,
    InstructionExample,
    InteractionRequest,
    InteractionResponse,
    Mode,
)
from kaizen.llm.types import Completion, Prompt
from kaizen.reasoning.answer import answer
from kaizen.reasoning.deps import ReasoningDeps
from kaizen.reasoning.exemplars import ExemplarPool
from kaizen.reasoning.testing import ScriptedLLM, hashing_embed
from kaizen.registry.rollout import AdapterRollout
from kaizen.serving.adapters import ServingAdapters
from kaizen.serving.core import ServingCore
from kaizen.serving.metered import MeteredLLM
from kaizen.serving.metrics import ServingMetrics

CHECKSUM = "0" * 64


@dataclass
class RecordingLoader:
    refuse: set[str] = field(default_factory=set)
    loaded: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)

    def load(self, version: str, *, checksum: str | None = None) -> None:
        if version in self.refuse:
            raise ValueError(f"adapter {version} is corrupt")
        self.loaded.add(version)
        self.log.append(f"load {version}")

    def unload(self, version: str) -> None:
        self.loaded.discard(version)
        self.log.append(f"unload {version}")


class GatedLLM:
    """A scripted model whose calls wait for ``gate`` (to hold requests in flight) and fail for unloaded adapters."""

    def __init__(self, loader: RecordingLoader) -> None:
        self.inner = ScriptedLLM(default="Paris")
        self.loader = loader
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = 0

    async def generate(self, prompt: Prompt, *, adapter: str | None = None, **kwargs: object) -> Completion:
        self.started += 1
        await self.gate.wait()
        if adapter is not None and adapter not in self.loader.loaded:
            raise RuntimeError(f"unknown adapter {adapter}")
        completion = await self.inner.generate(prompt, adapter=adapter, **kwargs)  # type: ignore[arg-type]
        return completion.model_copy(update={"batch_size": 2})


def event(action: AdapterAction, version: str, **extra: object) -> AdapterEvent:
    return AdapterEvent(action=action, version=version, manifest_url=f"file:///r/{version}", checksum=CHECKSUM, **extra)


def request(question: str = "Capital of France?", **extra: object) -> InteractionRequest:
    return InteractionRequest(**{"question": question, "mode": Mode.direct, **extra})


@pytest.fixture
def loader() -> RecordingLoader:
    return RecordingLoader()


@pytest.fixture
def llm(loader: RecordingLoader) -> GatedLLM:
    return GatedLLM(loader)


@pytest.fixture
def core(llm: GatedLLM, loader: RecordingLoader) -> ServingCore:
    metrics = ServingMetrics()
    deps = ReasoningDeps(llm=MeteredLLM(llm, metrics))
    adapters = ServingAdapters(loader, AdapterRollout(default_share=0.5))
    return ServingCore(functools.partial(answer, deps=deps), adapters, metrics=metrics, seen_capacity=4)


async def test_answers_with_the_derived_response_id(core: ServingCore) -> None:
    req = request()
    response, first = await core.handle(req)
    assert first and response.error is None and response.answer == "Paris"
    assert response.request_id == req.event_id
    assert response.response_id == InteractionResponse.response_id_for(req.event_id)
    metrics = core.metrics.render().decode()
    assert 'kaizen_interactions_total{adapter="base",status="ok",strategy="direct"} 1.0' in metrics
    assert "kaizen_generation_batch_size_sum 2.0" in metrics


async def test_duplicate_delivery_answers_once(core: ServingCore, llm: GatedLLM) -> None:
    req = request()
    first, is_first = await core.handle(req)
    again, is_first_again = await core.handle(InteractionRequest.model_validate_json(req.to_bytes()))
    assert is_first and not is_first_again
    assert again == first
    assert llm.started == 1


async def test_concurrent_duplicates_share_one_generation(core: ServingCore, llm: GatedLLM) -> None:
    llm.gate.clear()
    req = request()
    tasks = [asyncio.create_task(core.handle(req)) for _ in range(3)]
    await asyncio.sleep(0.05)
    llm.gate.set()
    results = await asyncio.gather(*tasks)
    assert [first for _, first in results].count(True) == 1
    assert len({r.response_id for r, _ in results}) == 1
    assert llm.started == 1


async def test_seen_set_is_bounded(core: ServingCore) -> None:
    for _ in range(10):
        await core.handle(request())
    assert len(core.seen) == 4


async def test_a_failing_model_yields_an_error_response(core: ServingCore, llm: GatedLLM) -> None:
    llm.inner.fail_on = "boom"
    response, first = await core.handle(request("boom?"))
    assert first and response.error and "scripted model failure" in response.error
    assert response.response_id == InteractionResponse.response_id_for(response.request_id)
    assert 'status="error"' in core.metrics.render().decode()


async def test_a_crashing_answerer_still_yields_a_response(loader: RecordingLoader) -> None:
    async def crash(req: InteractionRequest, *, adapter: str | None, on_delta: object = None) -> InteractionResponse:
        raise KeyError("bug")

    core = ServingCore(crash, ServingAdapters(loader, AdapterRollout(default_share=0.1)))
    req = request()
    response, _ = await core.handle(req)
    assert response.error == "KeyError: 'bug'" and response.request_id == req.event_id


async def test_promotion_swaps_without_failing_requests_in_flight(
    core: ServingCore, llm: GatedLLM, loader: RecordingLoader
) -> None:
    assert await core.on_adapter_event(event(AdapterAction.promoted, "v1"))
    llm.gate.clear()
    in_flight = [asyncio.create_task(core.handle(request(f"q{i}"))) for i in range(3)]
    await asyncio.sleep(0.05)
    assert await core.on_adapter_event(event(AdapterAction.promoted, "v2", previous_version="v1"))
    assert "unload v1" not in loader.log  # still in use
    after = asyncio.create_task(core.handle(request("after")))
    await asyncio.sleep(0.05)
    llm.gate.set()
    old = await asyncio.gather(*in_flight)
    new, _ = await after
    assert [(r.adapter_version, r.error) for r, _ in old] == [("v1", None)] * 3
    assert (new.adapter_version, new.error) == ("v2", None)
    await asyncio.sleep(0.05)
    assert loader.log == ["load v1", "load v2", "unload v1"]
    assert 'kaizen_active_adapter{role="active",tenant="default",version="v2"} 1.0' in core.metrics.render().decode()


async def test_a_refused_adapter_keeps_the_active_one(core: ServingCore, loader: RecordingLoader) -> None:
    await core.on_adapter_event(event(AdapterAction.promoted, "v1"))
    loader.refuse.add("bad")
    assert not await core.on_adapter_event(event(AdapterAction.promoted, "bad"))
    response, _ = await core.handle(request())
    assert response.adapter_version == "v1" and response.error is None
    assert 'kaizen_adapter_events_total{action="promoted",outcome="failed"} 1.0' in core.metrics.render().decode()


async def test_canary_routes_its_share_by_user_then_rollback(core: ServingCore) -> None:
    await core.on_adapter_event(event(AdapterAction.promoted, "v1"))
    await core.on_adapter_event(event(AdapterAction.canary, "v2", canary_share=0.5))
    users = [f"user-{i}" for i in range(40)]
    versions = {}
    for user in users:
        response, _ = await core.handle(request(user_id=user))
        versions[user] = response.adapter_version
    on_canary = sum(v == "v2" for v in versions.values())
    assert 8 <= on_canary <= 32 and set(versions.values()) == {"v1", "v2"}
    # A user stays on one side.
    for user in users[:5]:
        response, _ = await core.handle(request(user_id=user))
        assert response.adapter_version == versions[user]

    await core.on_adapter_event(event(AdapterAction.rollback, "v1", previous_version="v2"))
    response, _ = await core.handle(request(user_id=next(u for u, v in versions.items() if v == "v2")))
    assert response.adapter_version == "v1"
    assert core.adapters.rollout.tenant("default").canary is None


async def test_rollback_returns_to_the_previous_adapter(core: ServingCore, loader: RecordingLoader) -> None:
    await core.on_adapter_event(event(AdapterAction.promoted, "v1"))
    await core.on_adapter_event(event(AdapterAction.promoted, "v2"))
    await core.on_adapter_event(event(AdapterAction.rollback, "v1", previous_version="v2"))
    response, _ = await core.handle(request())
    assert response.adapter_version == "v1"
    assert loader.loaded == {"v1"}


async def test_pinned_adapter_wins(core: ServingCore) -> None:
    await core.on_adapter_event(event(AdapterAction.promoted, "v1"))
    await core.on_adapter_event(event(AdapterAction.canary, "v2", canary_share=1.0))
    response, _ = await core.handle(InteractionRequest(question="q", mode=Mode.direct, options={"adapter": "v1"}))
    assert response.adapter_version == "v1"


async def test_curated_chain_of_thought_grows_the_few_shot_pool(loader: RecordingLoader, tmp_path: Path) -> None:
    llm = ScriptedLLM(default="Reasoning: scripted.\nAnswer: 42")
    metrics = ServingMetrics()
    pool = ExemplarPool(hashing_embed, store_dir=tmp_path)
    deps = ReasoningDeps(llm=MeteredLLM(llm, metrics), exemplars=pool, cot_exemplars=2)
    adapters = ServingAdapters(loader, AdapterRollout(default_share=0.5))
    core = ServingCore(functools.partial(answer, deps=deps), adapters, metrics=metrics, exemplars=pool)

    def curated(strategy: str, question: str, accepted: bool = True) -> InstructionExample:
        return InstructionExample(
            tenant="acme",
            example_id=f"{strategy}-{question}",
            feedback_id=uuid.uuid4(),
            response_id=uuid.uuid4(),
            instruction=question,
            output="12 Quillmoor drones",
            reasoning=["Each Quillmoor depot holds 4 drones.", "3 depots * 4 = 12."],
            accepted=accepted,
            strategy=strategy,
        )

    assert await core.learn(curated("cot", "How many Quillmoor drones fit in 3 depots?"))
    assert not await core.learn(curated("cot", "How many Quillmoor drones fit in 3 depots?"))  # once only
    assert not await core.learn(curated("rag", "Who founded Quillmoor?"))  # not a chain of thought
    assert not await core.learn(curated("cot", "How many Quillmoor drones fit in 5 depots?", accepted=False))
    assert "kaizen_exemplars_learned_total 1.0" in metrics.render().decode()

    await core.handle(request("How many Quillmoor drones fit in 7 depots?", mode=Mode.cot, tenant="acme"))
    assert "3 depots * 4 = 12." in llm.calls[-1].prompt  # the learned exemplar is shown for a similar question
    await core.handle(request("How many Quillmoor drones fit in 7 depots?", mode=Mode.cot, tenant="globex"))
    assert "3 depots * 4 = 12." not in llm.calls[-1].prompt  # and only to its own tenant


async def test_deltas_are_published_in_order_before_close_returns() -> None:
    from kaizen.events import InteractionDelta
    from kaizen.serving.deltas import DeltaPublisher

    sent: list[InteractionDelta] = []

    async def send(delta: InteractionDelta) -> None:
        await asyncio.sleep(0.01 if delta.index == 0 else 0)  # a slow first send must not reorder the rest
        sent.append(delta)

    request = InteractionRequest(tenant="alpha", question="q", stream=True)
    publisher = DeltaPublisher(request, send)
    for piece in ["Ada", " Brook", "."]:
        publisher(piece)
    await publisher.close()
    assert [(d.index, d.text, d.request_id, d.tenant) for d in sent] == [
        (0, "Ada", request.event_id, "alpha"),
        (1, " Brook", request.event_id, "alpha"),
        (2, ".", request.event_id, "alpha"),
    ]


async def test_each_tenant_is_answered_by_its_own_adapters_and_pins_stay_inside_the_tenant(
    core: ServingCore, loader: RecordingLoader
) -> None:
    await core.on_adapter_event(event(AdapterAction.promoted, "alpha-v1", tenant="alpha"))
    await core.on_adapter_event(event(AdapterAction.promoted, "beta-v1", tenant="beta"))
    await core.on_adapter_event(event(AdapterAction.canary, "beta-v2", tenant="beta", canary_share=1.0))
    answered = {t: (await core.handle(request(tenant=t)))[0].adapter_version for t in ("alpha", "beta", "gamma")}
    assert answered == {"alpha": "alpha-v1", "beta": "beta-v2", "gamma": "base"}  # the scripted base model

    pinned, _ = await core.handle(request(tenant="beta", options={"adapter": "beta-v1"}))
    assert (pinned.adapter_version, pinned.error) == ("beta-v1", None)
    for pin in ("beta-v1", "default-v0001"):  # another tenant's version, and an unknown one: the same refusal
        calls = len(loader.log)
        refused, _ = await core.handle(request(tenant="alpha", options={"adapter": pin}))
        assert refused.error_code == "adapter_not_found" and refused.answer == ""
        assert f"tenant 'alpha' has no adapter '{pin}'" in (refused.error or "")
        assert refused.adapter_version is None and len(loader.log) == calls  # nothing loaded, nothing served
    assert 'kaizen_active_adapter{role="canary",tenant="beta",version="beta-v2"} 1.0' in core.metrics.render().decode()


async def test_idle_tenants_adapters_are_unloaded_lru_and_reloaded_verified_on_demand(
    llm: GatedLLM, loader: RecordingLoader
) -> None:
    checksums: dict[str, str | None] = {}
    load = loader.load

    def remembering(version: str, *, checksum: str | None = None) -> None:
        checksums[version] = checksum
        load(version, checksum=checksum)

    loader.load = remembering  # type: ignore[method-assign]
    adapters = ServingAdapters(loader, AdapterRollout(max_loaded=2))
    core = ServingCore(functools.partial(answer, deps=ReasoningDeps(llm=llm)), adapters)
    for tenant in ("t1", "t2", "t3"):
        await core.on_adapter_event(event(AdapterAction.promoted, f"{tenant}-v1", tenant=tenant))
    assert loader.loaded == {"t2-v1", "t3-v1"}  # t1 was used least recently
    checksums.clear()
    response, _ = await core.handle(request(tenant="t1"))
    assert (response.adapter_version, response.error) == ("t1-v1", None)
    assert checksums == {"t1-v1": CHECKSUM}  # reloaded against the event's checksum
    assert loader.loaded == {"t1-v1", "t3-v1"} and loader.log[-2:] == ["load t1-v1", "unload t2-v1"]

    loader.refuse.add("t2-v1")  # corrupt on disk since: the reload is refused, the request gets a clear error
    refused, _ = await core.handle(request(tenant="t2"))
    assert refused.error and "t2-v1 is corrupt" in refused.error and refused.answer == ""
