"""Serving cost of each PEFT method on the default model: load + activate time, and decode time of a batch on that
adapter beside the same batch on the base model (the overhead ratio), side by side in one run.

Adapters come from the training code (attached and saved untrained: the cost of serving does not depend on the
values). Writes bench/results/methods.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kaizen.config import Settings
from kaizen.llm.adapters import AdapterManager
from kaizen.llm.engine import GenerationEngine
from kaizen.llm.fingerprint import fingerprint
from kaizen.llm.methods import SERVABLE_METHODS
from kaizen.llm.model import load_model
from kaizen.llm.prepare import resolve_base_model
from kaizen.registry import AdapterManifest, AdapterRegistry
from kaizen.training.adapters import attach, save_adapter
from kaizen.training.config import Method, TrainingConfig

RESULTS = Path(__file__).resolve().parent / "results" / "methods.json"
PROMPTS = [
    "The capital of France is",
    "Water boils at a temperature of",
    "def fibonacci(n):",
    "Once upon a time, in a small village,",
    "The three primary colours are",
    "To make a cup of tea, first",
    "The largest planet in the solar system",
    "In 1969, the first people to walk on the Moon",
]


def make_adapters(model_dir: Path, work: Path, registry: AdapterRegistry) -> dict[Method, str]:
    versions = {}
    for method in sorted(SERVABLE_METHODS):
        base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        config = TrainingConfig(method=method)
        out = save_adapter(attach(base, config), config, work / method.value, base_model_hash=fingerprint(model_dir))
        manifest = AdapterManifest(
            version=f"bench-{method.value}",
            base_model=model_dir.name,
            base_model_hash=fingerprint(model_dir),
            method=method.value,
        )
        versions[method] = registry.register(out, manifest).version
    return versions


async def batch_seconds(engine: GenerationEngine, adapters: list[str | None], tokens: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(
        *(
            engine.generate(PROMPTS[i % len(PROMPTS)], max_new_tokens=tokens, adapter=a, stop=[])
            for i, a in enumerate(adapters)
        )
    )
    return time.perf_counter() - start


async def run(settings: Settings, tokens: int, rows: int, repeats: int) -> dict:
    model_dir = resolve_base_model(settings)
    lm = load_model(model_dir, settings.model_dtype, settings.torch_threads, settings.device)
    results: dict = {
        "device": str(lm.device),
        "dtype": str(lm.dtype),
        "rows": rows,
        "new_tokens": tokens,
        "methods": {},
    }
    with tempfile.TemporaryDirectory() as tmp, GenerationEngine(lm, max_batch_size=rows) as engine:
        registry = AdapterRegistry(Path(tmp) / "registry")
        versions = make_adapters(model_dir, Path(tmp), registry)
        manager = AdapterManager(engine, registry)
        await batch_seconds(engine, [None] * rows, 4)  # warm-up
        for method, version in versions.items():
            start = time.perf_counter()
            await manager.aload(version)
            load_ms = (time.perf_counter() - start) * 1000
            base, own = [], []
            for _ in range(repeats):  # interleaved, so a load change on the machine hits both alike
                base.append(await batch_seconds(engine, [None] * rows, tokens))
                own.append(await batch_seconds(engine, [version] * rows, tokens))
            results["methods"][method.value] = {
                "load_activate_ms": round(load_ms, 1),
                "batch_s": round(min(own), 3),
                "base_batch_s": round(min(base), 3),
                "overhead": round(min(own) / min(base) - 1, 3),
            }
        mixed = [None, *versions.values()]
        plan = [mixed[i % len(mixed)] for i in range(rows)]
        base = min([await batch_seconds(engine, [None] * rows, tokens) for _ in range(repeats)])
        every = min([await batch_seconds(engine, plan, tokens) for _ in range(repeats)])
        results["mixed_batch"] = {
            "plan": [p or "base" for p in plan],
            "batch_s": round(every, 3),
            "base_batch_s": round(base, 3),
            "overhead": round(every / base - 1, 3),
            "note": "freeze rows run as their own batch (one weight set per forward pass)",
        }
        manager.unload_all()
    results["measured"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer tokens and repeats")
    args = parser.parse_args()
    settings = Settings()
    results = asyncio.run(run(settings, 8 if args.quick else 32, 8, 1 if args.quick else 3))
    RESULTS.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
