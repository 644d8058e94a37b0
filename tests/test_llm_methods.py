"""Every PEFT method (LoRA, bottleneck, freeze, P-tuning, prefix) served through the real engine on the tiny model:
the trained model's greedy tokens, mixed or grouped batches, hot swaps with canary and rollback that fail no
request, and refused adapters."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from kaizen.events import AdapterAction, AdapterEvent
from kaizen.llm.adapters import AdapterError, AdapterManager
from kaizen.llm.engine import GenerationEngine
from kaizen.llm.methods import SERVABLE_METHODS
from kaizen.registry import AdapterRegistry
from kaizen.registry.rollout import AdapterRollout, in_canary
from kaizen.serving.adapters import ServingAdapters
from kaizen.training import bottleneck, freeze
from kaizen.training.config import Method
from tests.support.methods import PROMPT, greedy, register, train_adapter

TOKENS = 8
# version -> (method, training parameters, seed)
ADAPTERS = {
    "l1": (Method.lora, {"lora": {"rank": 4, "alpha": 8, "dropout": 0.0}}, 1),
    "b1": (Method.bottleneck, {"bottleneck": {"bottleneck_size": 8}}, 2),
    "b2": (Method.bottleneck, {"bottleneck": {"bottleneck_size": 4, "positions": ["mlp"]}}, 3),
    "f1": (Method.freeze, {"freeze": {"trainable_layers": 1}}, 4),
    "f2": (Method.freeze, {"freeze": {"trainable_layers": 2}}, 5),
    "p1": (Method.ptuning, {"prompt": {"num_virtual_tokens": 4, "encoder_hidden_size": 16}}, 6),
    "x1": (Method.prefix, {"prompt": {"num_virtual_tokens": 3}}, 7),
}
FIRST_OF = {method: next(v for v, (m, _, _) in ADAPTERS.items() if m == method) for method in SERVABLE_METHODS}


class Trained:
    def __init__(self, registry: AdapterRegistry, dirs: dict[str, Path], expected: dict[str | None, list[int]]):
        self.registry, self.dirs, self.expected = registry, dirs, expected


@pytest.fixture(scope="module")
def trained(tiny_lm, tmp_path_factory: pytest.TempPathFactory) -> Trained:  # type: ignore[no-untyped-def]
    """Each adapter trained by the training code; its expected tokens come from the trained model itself."""
    work = tmp_path_factory.mktemp("methods")
    registry = AdapterRegistry(work / "registry")
    model_dir, eos = tiny_lm.model_dir, tiny_lm.eos_ids
    expected: dict[str | None, list[int]] = {None: greedy(tiny_lm.model, model_dir, PROMPT, TOKENS, eos)}
    dirs = {}
    for version, (method, params, seed) in ADAPTERS.items():
        dirs[version], model = train_adapter(model_dir, work / version, method, seed=seed, **params)
        expected[version] = greedy(model, model_dir, PROMPT, TOKENS, eos)
        register(registry, dirs[version], version, method)
    return Trained(registry, dirs, expected)


async def _tokens(engine: GenerationEngine, adapter: str | None = None) -> list[int]:
    return (await engine.generate(PROMPT, max_new_tokens=TOKENS, adapter=adapter)).tokens


def test_every_method_with_a_serving_module_is_servable() -> None:
    assert set(Method) == SERVABLE_METHODS


@pytest.mark.parametrize("method", sorted(SERVABLE_METHODS))
async def test_served_tokens_are_the_trained_models_greedy_tokens(
    method: Method, tiny_engine: GenerationEngine, trained: Trained
) -> None:
    version = FIRST_OF[method]
    assert trained.expected[version] != trained.expected[None]  # the adapter changes the answer
    manager = AdapterManager(tiny_engine, trained.registry)
    assert manager.load(version).method == method.value
    assert await _tokens(tiny_engine, version) == trained.expected[version]
    assert await _tokens(tiny_engine) == trained.expected[None]
    manager.unload(version)
    await asyncio.sleep(0.05)
    assert tiny_engine.adapters == [] and await _tokens(tiny_engine) == trained.expected[None]


async def test_rows_of_every_method_mix_and_freeze_versions_batch_alone(
    tiny_engine: GenerationEngine, trained: Trained
) -> None:
    manager = AdapterManager(tiny_engine, trained.registry)
    for version in ADAPTERS:
        manager.load(version)
    plan = ["b1", None, "l1", "b2", "f1", "b1", "f2", "f1", None, "p1", "x1"]
    gate = threading.Event()
    tiny_engine.run_in_worker(gate.wait)  # holds the worker so the whole burst is waiting at once
    futures = [tiny_engine.submit(PROMPT, max_new_tokens=TOKENS, adapter=a) for a in plan]
    gate.set()
    done = [f.result(timeout=120) for f in futures]
    assert [c.tokens for c in done] == [trained.expected[a] for a in plan]
    assert [c.adapter_version for c in done] == plan
    # one batch of the rows on the base weights (base, LoRA, bottleneck, P-tuning, prefix), then each freeze
    # version's rows
    assert [c.batch_size for c in done] == [8, 8, 8, 8, 2, 8, 1, 2, 8, 8, 8]


async def test_hot_swaps_with_canary_and_rollback_fail_no_request(
    tiny_engine: GenerationEngine, trained: Trained
) -> None:
    registry = trained.registry
    adapters = ServingAdapters(AdapterManager(tiny_engine, registry), AdapterRollout())
    users = [f"user-{i}" for i in range(40)]
    inside = [u for u in users if in_canary(u, 0.5)][:2]
    outside = [u for u in users if not in_canary(u, 0.5)][:2]
    served: list[tuple[str, str | None, list[int]]] = []  # (phase, version, tokens)
    failures: list[BaseException] = []
    phase = ["base"]
    stop = asyncio.Event()

    async def client(user: str) -> None:
        while not stop.is_set():
            try:
                label = phase[0]  # read before choosing: a request that chose earlier may still finish later
                version = adapters.rollout.choose("default", user)
                async with adapters.lease(version):
                    completion = await tiny_engine.generate(PROMPT, max_new_tokens=TOKENS, adapter=version)
                served.append((label, completion.adapter_version, completion.tokens))
            except Exception as exc:
                failures.append(exc)

    async def event(action: AdapterAction, version: str, **extra: object) -> None:
        checksum = registry.get(version).checksum
        await adapters.apply(
            AdapterEvent(action=action, version=version, manifest_url="-", checksum=checksum, **extra)  # type: ignore[arg-type]
        )
        phase[0] = f"{action.value}:{version}"
        count = len(served)
        while len(served) < count + 8:  # every client answers a few times in this phase
            await asyncio.sleep(0.01)

    clients = [asyncio.create_task(client(u)) for u in inside + outside]
    await asyncio.sleep(0.2)
    await event(AdapterAction.promoted, "f1")
    await event(AdapterAction.canary, "b1", canary_share=0.5)  # a bottleneck canary beside a promoted freeze
    await event(AdapterAction.promoted, "f2")
    await event(AdapterAction.promoted, "l1")
    await event(AdapterAction.canary, "p1", canary_share=0.5)  # a P-tuning canary beside a promoted LoRA
    await event(AdapterAction.canary, "f1", canary_share=0.5)  # a freeze canary beside a promoted LoRA
    await event(AdapterAction.promoted, "x1")
    await event(AdapterAction.promoted, "b2")
    await event(AdapterAction.rollback, "l1")
    stop.set()
    await asyncio.gather(*clients)
    await asyncio.sleep(0.1)
    assert tiny_engine.adapters == ["l1"]  # every version left without a role was unloaded along the way

    assert failures == []
    assert all(tokens == trained.expected[version] for _, version, tokens in served)
    seen = {(p, v) for p, v, _ in served}
    assert {("canary:b1", "b1"), ("canary:b1", "f1"), ("canary:f1", "f1"), ("canary:f1", "l1")} <= seen
    assert {("canary:p1", "p1"), ("canary:p1", "l1")} <= seen
    assert {v for p, v, _ in served if p == "promoted:x1"} == {"x1"}
    assert {v for p, v, _ in served if p == "rollback:l1"} == {"l1"}
    assert {v for p, v, _ in served if p == "promoted:b2"} == {"b2"}


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _bottleneck_for_another_width(adapter: Path, out: Path) -> Path:
    config = _copy(adapter, out) / bottleneck.CONFIG
    config.write_text(config.read_text().replace('"hidden_size": 32', '"hidden_size": 48'))
    return out


def _freeze_with(adapter: Path, out: Path, change: str) -> Path:
    _copy(adapter, out)
    state = load_file(str(out / freeze.WEIGHTS))
    name = next(iter(state))
    if change == "shape":
        state[name] = torch.zeros(state[name].shape[0] + 1, *state[name].shape[1:])
    else:
        state["model.layers.9.mlp.up_proj.weight"] = state.pop(name)
    save_file(state, str(out / freeze.WEIGHTS))
    return out


def _ptuning_for_another_width(adapter: Path, out: Path) -> Path:
    weights = _copy(adapter, out) / "adapter_model.safetensors"
    state = load_file(str(weights))
    state["prompt_embeddings"] = torch.zeros(state["prompt_embeddings"].shape[0], 48)
    save_file(state, str(weights))
    return out


def _prefix_for_another_shape(adapter: Path, out: Path) -> Path:
    config = _copy(adapter, out) / "adapter_config.json"
    data = json.loads(config.read_text())
    data.update(num_layers=1, token_dim=32)  # the same number of values, laid out for another model
    config.write_text(json.dumps(data))
    return out


def _truncated(adapter: Path, out: Path, weights: str) -> Path:
    path = _copy(adapter, out) / weights
    path.write_bytes(path.read_bytes()[:100])
    return out


REFUSED = {
    "bottleneck-width": (
        lambda t, out: _bottleneck_for_another_width(t.dirs["b1"], out),
        Method.bottleneck,
        "trained on hidden size 48",
    ),
    "bottleneck-truncated": (
        lambda t, out: _truncated(t.dirs["b1"], out, bottleneck.WEIGHTS),
        Method.bottleneck,
        "not a readable bottleneck adapter",
    ),
    "freeze-shape": (lambda t, out: _freeze_with(t.dirs["f1"], out, "shape"), Method.freeze, "has shape"),
    "freeze-names": (lambda t, out: _freeze_with(t.dirs["f1"], out, "names"), Method.freeze, "weights the model lacks"),
    "freeze-truncated": (
        lambda t, out: _truncated(t.dirs["f1"], out, freeze.WEIGHTS),
        Method.freeze,
        "no readable freeze weights",
    ),
    "ptuning-width": (
        lambda t, out: _ptuning_for_another_width(t.dirs["p1"], out),
        Method.ptuning,
        "virtual tokens 48 wide",
    ),
    "prefix-shape": (
        lambda t, out: _prefix_for_another_shape(t.dirs["x1"], out),
        Method.prefix,
        r"a prefix for \(layers, kv heads, head dim\) \(1, 1, 32\)",
    ),
    "method-mismatch": (lambda t, out: _copy(t.dirs["b1"], out), Method.freeze, "manifest says freeze, its files are"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_a_mismatched_or_corrupt_adapter_is_refused_and_serving_goes_on(
    case: str, tiny_engine: GenerationEngine, trained: Trained, tmp_path: Path
) -> None:
    make, method, message = REFUSED[case]
    registry = AdapterRegistry(tmp_path / "registry")
    for version in ("f1", "b1"):
        register(registry, trained.dirs[version], version, ADAPTERS[version][0])
    register(registry, make(trained, tmp_path / "bad"), "bad", method)
    manager = AdapterManager(tiny_engine, registry)
    manager.load("f1")
    manager.load("b1")
    with pytest.raises(AdapterError, match=f"refusing adapter bad: .*{message}"):
        manager.load("bad")
    assert manager.loaded == ["b1", "f1"] and tiny_engine.adapters == ["b1", "f1"]
    for version in ("f1", "b1", None):
        assert await _tokens(tiny_engine, version) == trained.expected[version]


async def test_weights_changed_after_registration_are_refused(
    tiny_engine: GenerationEngine, trained: Trained, tmp_path: Path
) -> None:
    registry = AdapterRegistry(tmp_path / "registry")
    register(registry, trained.dirs["f2"], "f2", Method.freeze)
    weights = registry.adapter_path("f2") / freeze.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-16] + b"\0" * 16)
    with pytest.raises(AdapterError, match="corrupt"):
        AdapterManager(tiny_engine, registry).load("f2")
    assert await _tokens(tiny_engine) == trained.expected[None]
