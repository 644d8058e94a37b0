"""The adapter manager: verified loads, atomic activation, rollback, unloading, mixed adapters in one batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kaizen.llm.adapters import AdapterError, AdapterManager
from kaizen.llm.engine import GenerationEngine
from kaizen.registry import AdapterManifest, AdapterRegistry
from tests.fixtures.llm import build_tiny_model, make_lora_adapter, register_lora

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def registry(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> AdapterRegistry:
    work = tmp_path_factory.mktemp("adapters")
    registry = AdapterRegistry(work / "registry")
    for seed, version in enumerate(("v1", "v2", "v3"), start=1):
        register_lora(registry, tiny_model_dir, version, seed=seed, work=work)
    return registry


@pytest.fixture
def manager(tiny_engine: GenerationEngine, registry: AdapterRegistry) -> AdapterManager:
    return AdapterManager(tiny_engine, registry)


async def _tokens(engine: GenerationEngine, adapter: str | None = None) -> list[int]:
    return (await engine.generate(PROMPT, max_new_tokens=8, adapter=adapter)).tokens


async def test_adapters_change_outputs_and_mix_in_one_batch(
    tiny_engine: GenerationEngine, manager: AdapterManager
) -> None:
    base = await _tokens(tiny_engine)
    manager.load("v1")
    manager.load("v2")
    one, two = await _tokens(tiny_engine, "v1"), await _tokens(tiny_engine, "v2")
    assert len({tuple(base), tuple(one), tuple(two)}) == 3
    # A batch on one adapter runs it directly (no per-row routing): the same tokens as routed rows give.
    assert await _tokens(tiny_engine, "__base__") == base and await _tokens(tiny_engine, "v1") == one
    uniform = await asyncio.gather(*(tiny_engine.generate(PROMPT, max_new_tokens=8, adapter="v2") for _ in range(3)))
    assert [c.tokens for c in uniform] == [two, two, two]
    mixed = await asyncio.gather(
        *(tiny_engine.generate(PROMPT, max_new_tokens=8, adapter=a) for a in ("v1", "__base__", "v2", "v1"))
    )
    assert max(c.batch_size for c in mixed) > 1
    assert [c.tokens for c in mixed] == [one, base, two, one]
    assert [c.adapter_version for c in mixed] == ["v1", None, "v2", "v1"]


async def test_activate_and_rollback(tiny_engine: GenerationEngine, manager: AdapterManager) -> None:
    base = await _tokens(tiny_engine)
    manager.load("v1")
    manager.activate("v1")
    one = await _tokens(tiny_engine)
    assert one != base and manager.active_version == "v1"
    await manager.swap("v2")
    assert manager.active_version == "v2" and manager.previous_version == "v1"
    completion = await tiny_engine.generate(PROMPT, max_new_tokens=8)
    assert completion.adapter_version == "v2"
    assert manager.rollback() == "v1"
    assert await _tokens(tiny_engine) == one
    await asyncio.sleep(0.05)
    assert "v2" not in tiny_engine.adapters  # out of use: unloaded


async def test_requests_keep_the_adapter_they_started_with(
    tiny_engine: GenerationEngine, manager: AdapterManager
) -> None:
    manager.load("v1")
    manager.load("v2")
    manager.activate("v1")
    expected = await _tokens(tiny_engine, "v1")
    running = asyncio.ensure_future(tiny_engine.generate(PROMPT, max_new_tokens=8))
    await asyncio.sleep(0)  # submitted under v1
    manager.activate("v2")
    completion = await running
    assert completion.adapter_version == "v1" and completion.tokens == expected


async def test_unused_adapters_are_unloaded_once_their_requests_finish(
    tiny_engine: GenerationEngine, manager: AdapterManager
) -> None:
    for version in ("v1", "v2", "v3"):
        await manager.swap(version)
    await asyncio.sleep(0.05)
    assert manager.loaded == ["v2", "v3"]
    assert tiny_engine.adapters == ["v2", "v3"]
    with pytest.raises(Exception, match="unknown adapter 'v1'"):
        await tiny_engine.generate(PROMPT, adapter="v1")


async def test_corrupt_adapter_is_refused_and_the_active_one_stays(
    tiny_engine: GenerationEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    registry = AdapterRegistry(tmp_path / "registry")
    register_lora(registry, tiny_model_dir, "good", seed=1, work=tmp_path)
    register_lora(registry, tiny_model_dir, "bad", seed=2, work=tmp_path)
    weights = registry.adapter_path("bad") / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-16] + b"\0" * 16)
    manager = AdapterManager(tiny_engine, registry)
    await manager.swap("good")
    before = await _tokens(tiny_engine)
    with pytest.raises(AdapterError, match="corrupt"):
        await manager.swap("bad")
    assert manager.active_version == "good" and await _tokens(tiny_engine) == before


async def test_adapter_for_another_base_model_is_refused(
    tiny_engine: GenerationEngine, base_model_dir: Path, tmp_path: Path, manager: AdapterManager
) -> None:
    other_base = build_tiny_model(base_model_dir, tmp_path / "other", seed=1)
    # same architecture, different config: an adapter trained there must not load here
    cfg = other_base / "config.json"
    cfg.write_text(cfg.read_text().replace('"intermediate_size": 64', '"intermediate_size": 96'))
    registry = AdapterRegistry(tmp_path / "registry")
    register_lora(registry, tiny_engine.lm.model_dir, "ok", seed=1, work=tmp_path)
    adapter = make_lora_adapter(tiny_engine.lm.model_dir, tmp_path / "foreign-weights", seed=3)
    from kaizen.llm.fingerprint import fingerprint

    registry.register(
        adapter, AdapterManifest(version="foreign", base_model="other", base_model_hash=fingerprint(other_base))
    )
    own = AdapterManager(tiny_engine, registry)
    await own.swap("ok")
    with pytest.raises(AdapterError, match="trained on base model 'other'"):
        own.load("foreign")
    assert own.active_version == "ok" and own.loaded == ["ok"]


async def test_non_lora_adapters_are_refused_clearly(
    tiny_engine: GenerationEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from kaizen.llm.fingerprint import fingerprint

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    prefix = get_peft_model(model, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    prefix.save_pretrained(str(tmp_path / "prefix"))
    registry = AdapterRegistry(tmp_path / "registry")
    registry.register(
        tmp_path / "prefix",
        AdapterManifest(version="p1", base_model="tiny", base_model_hash=fingerprint(tiny_model_dir)),
    )
    with pytest.raises(AdapterError, match="PREFIX_TUNING adapters cannot be hot-swapped"):
        AdapterManager(tiny_engine, registry).load("p1")


def test_activate_or_rollback_without_loading_is_refused(manager: AdapterManager) -> None:
    with pytest.raises(AdapterError, match="not loaded"):
        manager.activate("v1")
    with pytest.raises(AdapterError, match="nothing to roll back"):
        manager.rollback()


@pytest.mark.slow
async def test_real_model_generates_and_swaps_adapters(
    real_engine: GenerationEngine, base_model_dir: Path, tmp_path: Path
) -> None:
    base = await real_engine.generate("Water boils at a temperature of", max_new_tokens=8)
    assert "100" in base.text
    registry = AdapterRegistry(tmp_path / "registry")
    register_lora(registry, base_model_dir, "r1", seed=1, scale=0.5, work=tmp_path)
    register_lora(registry, base_model_dir, "r2", seed=2, scale=0.5, work=tmp_path)
    manager = AdapterManager(real_engine, registry)
    try:
        await manager.swap("r1")
        first = await real_engine.generate("Water boils at a temperature of", max_new_tokens=8)
        await manager.swap("r2")
        second = await real_engine.generate("Water boils at a temperature of", max_new_tokens=8)
        assert first.adapter_version == "r1" and second.adapter_version == "r2"
        assert len({tuple(base.tokens), tuple(first.tokens), tuple(second.tokens)}) == 3
        manager.rollback()
        again = await real_engine.generate("Water boils at a temperature of", max_new_tokens=8)
        assert again.tokens == first.tokens
    finally:
        manager.reset()
    await asyncio.sleep(0.05)
    assert real_engine.adapters == []


async def test_reloading_an_adapter_still_pending_deletion(
    tiny_engine: GenerationEngine, manager: AdapterManager
) -> None:
    manager.load("v1")
    expected = await _tokens(tiny_engine, "v1")
    running = asyncio.ensure_future(tiny_engine.generate(PROMPT, max_new_tokens=30, adapter="v1"))
    await asyncio.sleep(0)
    for version in ("v1", "v2", "v3", "v1"):  # v1 is dropped while its request runs, then wanted again
        await manager.swap(version)
    await running
    assert manager.active_version == "v1" and await _tokens(tiny_engine) == expected
