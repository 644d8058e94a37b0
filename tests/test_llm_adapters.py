"""The adapter manager: verified loads, unloading after the last request, mixed adapters in one batch."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from pathlib import Path

import pytest

from kaizen.llm.adapters import AdapterError, AdapterManager
from kaizen.llm.engine import GenerationEngine
from kaizen.llm.types import Completion
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


async def test_an_adapter_row_joining_a_running_base_batch_mid_stream_decodes_as_alone(
    tiny_engine: GenerationEngine, manager: AdapterManager
) -> None:
    """Continuous batching with mixed adapters: a LoRA row prefilled into a running base batch (and a base row
    after it) gives exactly the tokens it gives alone, and so do the rows it joined."""
    manager.load("v1")
    long, other = "Once upon a time, in a land far away, there lived a", "Water boils at"
    plan = [(long, None, 24), (PROMPT, "v1", 8), (other, None, 10)]
    alone = [(await tiny_engine.generate(p, max_new_tokens=n, adapter=a)).tokens for p, a, n in plan]
    assert alone[1] != (await tiny_engine.generate(PROMPT, max_new_tokens=8)).tokens  # the adapter matters here
    joined: list[Future[Completion]] = []
    seen = [0]

    def on_delta(_piece: str) -> None:  # newcomers on the 3rd and 6th piece of the running base row
        seen[0] += 1
        if seen[0] in (3, 6):
            prompt, adapter, tokens = plan[len(joined) + 1]
            joined.append(tiny_engine.submit(prompt, max_new_tokens=tokens, adapter=adapter))

    first = await tiny_engine.generate(long, max_new_tokens=24, on_delta=on_delta)
    rest = [f.result(timeout=60) for f in joined]
    assert [first.tokens, *(c.tokens for c in rest)] == alone
    assert rest[0].adapter_version == "v1" and rest[1].adapter_version is None
    assert rest[0].batch_size >= 2 and first.batch_size >= 2  # it joined the running batch, not a new one


async def test_unloaded_adapters_go_once_their_requests_finish(
    tiny_engine: GenerationEngine, manager: AdapterManager
) -> None:
    for version in ("v1", "v2", "v3"):
        manager.load(version)
    expected = await _tokens(tiny_engine, "v1")
    running = asyncio.ensure_future(tiny_engine.generate(PROMPT, max_new_tokens=8, adapter="v1"))
    await asyncio.sleep(0)  # submitted with v1
    manager.unload("v1")
    completion = await running
    assert completion.adapter_version == "v1" and completion.tokens == expected
    await asyncio.sleep(0.05)
    assert manager.loaded == ["v2", "v3"]
    assert tiny_engine.adapters == ["v2", "v3"]
    with pytest.raises(Exception, match="unknown adapter 'v1'"):
        await tiny_engine.generate(PROMPT, adapter="v1")


async def test_corrupt_or_unannounced_adapters_are_refused_and_the_loaded_one_stays(
    tiny_engine: GenerationEngine, tiny_model_dir: Path, tmp_path: Path
) -> None:
    registry = AdapterRegistry(tmp_path / "registry")
    register_lora(registry, tiny_model_dir, "good", seed=1, work=tmp_path)
    register_lora(registry, tiny_model_dir, "bad", seed=2, work=tmp_path)
    register_lora(registry, tiny_model_dir, "other", seed=3, work=tmp_path)
    weights = registry.adapter_path("bad") / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-16] + b"\0" * 16)
    manager = AdapterManager(tiny_engine, registry)
    await manager.aload("good")
    before = await _tokens(tiny_engine, "good")
    with pytest.raises(AdapterError, match="corrupt"):
        await manager.aload("bad")
    with pytest.raises(AdapterError, match="the event's checksum 000000000000 does not match"):
        manager.load("other", checksum="0" * 64)  # intact, but not the version its adapter event announced
    assert manager.loaded == ["good"] and await _tokens(tiny_engine, "good") == before


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
    await own.aload("ok")
    with pytest.raises(AdapterError, match="trained on base model 'other'"):
        own.load("foreign")
    assert own.loaded == ["ok"]


async def test_an_adapter_whose_files_are_not_its_manifests_method_is_refused(
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
    # registered without its method: the manifest says LoRA (the default), the files are a prefix adapter
    with pytest.raises(AdapterError, match="its manifest says lora, its files are a prefix adapter"):
        AdapterManager(tiny_engine, registry).load("p1")


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
    prompt = "Water boils at a temperature of"
    try:
        await manager.aload("r1")
        first = await real_engine.generate(prompt, max_new_tokens=8, adapter="r1")
        await manager.aload("r2")
        second = await real_engine.generate(prompt, max_new_tokens=8, adapter="r2")
        assert first.adapter_version == "r1" and second.adapter_version == "r2"
        assert len({tuple(base.tokens), tuple(first.tokens), tuple(second.tokens)}) == 3
        manager.unload("r2")
        again = await real_engine.generate(prompt, max_new_tokens=8, adapter="r1")
        assert again.tokens == first.tokens
    finally:
        manager.unload_all()
    await asyncio.sleep(0.05)
    assert real_engine.adapters == []


async def test_reloading_an_adapter_still_pending_deletion(
    tiny_engine: GenerationEngine, manager: AdapterManager
) -> None:
    manager.load("v1")
    expected = await _tokens(tiny_engine, "v1")
    running = asyncio.ensure_future(tiny_engine.generate(PROMPT, max_new_tokens=30, adapter="v1"))
    await asyncio.sleep(0)
    manager.unload("v1")  # dropped while its request runs, then wanted again
    await manager.aload("v1")
    await running
    assert manager.loaded == ["v1"] and await _tokens(tiny_engine, "v1") == expected
