"""The GPU checks of the serving runtime, on a CUDA machine (the CPU suite cannot see any of these):

- placement: ``KAIZEN_DEVICE=auto`` puts the engine's model on the GPU in bf16, evaluation (``exam_model``) and
  training follow, and a LoRA trains there;
- host syncs per decode step, counted by torch's sync debug mode (one per step is the token transfer every
  engine needs to stream; more means the loop stalls the GPU);
- the KV-cache bound: with a small ``kv_cache_mb`` a burst larger than the cache queues instead of growing memory,
  and peak GPU memory stays within weights + the cache + activations;
- mixed adapters in one continuous batch: base and two LoRAs decode together, and no batch falls back to rows one
  by one (the engine logs a warning when it does).

    python bench/gpu.py [--out bench/results/gpu.json] [--note "..."]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.llm import PROMPTS, machine, make_adapters
from kaizen.config import Settings, settings_environment
from kaizen.llm.adapters import AdapterManager
from kaizen.llm.engine import GenerationEngine
from kaizen.llm.model import load_model
from kaizen.llm.prepare import resolve_base_model
from kaizen.registry import AdapterRegistry

RESULTS = Path(__file__).resolve().parent / "results" / "gpu.json"


class Fallbacks(logging.Handler):
    """Counts the engine's warnings: a failed batch retried row by row would hide a GPU bug behind slow answers."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:300])


def placement(model_dir: Path, settings: Settings) -> dict[str, Any]:
    from bench.training import examples
    from kaizen.training.adapters import attach
    from kaizen.training.config import MASTER_DTYPE, TrainingConfig
    from kaizen.training.data import to_training_examples
    from kaizen.training.generation import exam_model, generate_answers
    from kaizen.training.trainer import train

    with settings_environment(settings):
        exam = exam_model(model_dir)
        answers = generate_answers(exam, ["The capital of France is"], max_new_tokens=4)
        model = load_model(model_dir, MASTER_DTYPE).model
        config = TrainingConfig(method="lora", steps=4, batch_size=4, learning_rate=1e-4, bf16=True)
        peft_model = attach(model, config)
        tok = exam.tokenizer
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = train(peft_model, tok, to_training_examples(examples(16)), config)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    trainable = {p.device.type for p in peft_model.parameters() if p.requires_grad}
    return {
        "exam_device": str(exam.device),
        "exam_dtype": str(exam.dtype).removeprefix("torch."),
        "exam_params_on": sorted({p.device.type for p in exam.model.parameters()}),
        "exam_answers": len(answers),
        "train_params_on": sorted(trainable),
        "train_steps": result.steps,
        "train_losses": [round(x, 4) for x in result.losses],
        "train_seconds_per_step": round(seconds / result.steps, 3),
        "ok": exam.device.type == "cuda" and trainable == {"cuda"},  # train() raises on a non-finite loss
    }


async def syncs_per_step(engine: GenerationEngine, rows: int, tokens: int) -> dict[str, Any]:
    await engine.generate(PROMPTS[0], max_new_tokens=2)  # warm-up outside the count
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            done = await asyncio.gather(
                *(engine.generate(PROMPTS[i % len(PROMPTS)], max_new_tokens=tokens) for i in range(rows))
            )
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    steps = max(len(c.tokens) for c in done)
    where: dict[str, int] = {}
    for w in syncs:
        key = f"{Path(w.filename).name}:{w.lineno}"
        where[key] = where.get(key, 0) + 1
    return {
        "rows": rows,
        "decode_steps": steps,
        "syncs": len(syncs),
        "syncs_per_step": round(len(syncs) / steps, 2),
        "by_line": dict(sorted(where.items(), key=lambda kv: -kv[1])[:12]),
    }


async def kv_bound(model_dir: Path, settings: Settings, kv_mb: float, rows: int, tokens: int) -> dict[str, Any]:
    lm = load_model(model_dir, settings.model_dtype, device=settings.device)
    weights = torch.cuda.memory_allocated(lm.device)
    torch.cuda.reset_peak_memory_stats(lm.device)
    with GenerationEngine(lm, max_batch_size=rows, kv_cache_mb=kv_mb) as engine:
        done = await asyncio.gather(
            *(engine.generate(PROMPTS[i % len(PROMPTS)], max_new_tokens=tokens) for i in range(rows))
        )
        cache_tokens = engine.kv_cache_tokens
    peak = torch.cuda.max_memory_allocated(lm.device)
    needed = sum(c.prompt_tokens + tokens for c in done)  # what admission reserves: prompt + max_new_tokens
    largest = max(c.batch_size for c in done)
    extra_mb = (peak - weights) / 2**20
    return {
        "kv_cache_mb": kv_mb,
        "kv_cache_tokens": cache_tokens,
        "tokens_the_burst_reserves": needed,
        "rows": rows,
        "largest_batch": largest,
        "weights_mb": round(weights / 2**20, 1),
        "peak_above_weights_mb": round(extra_mb, 1),
        "queued_instead_of_growing": needed > cache_tokens and largest < rows,
    }


async def mixed(engine: GenerationEngine, manager: AdapterManager, versions: list[str]) -> dict[str, Any]:
    for version in versions:
        await manager.aload(version)
    names = [None, *versions]
    alone = {}
    for name in names:
        alone[name] = (await engine.generate(PROMPTS[2], max_new_tokens=16, adapter=name)).tokens
    together = await asyncio.gather(
        *(engine.generate(PROMPTS[2], max_new_tokens=16, adapter=names[i % len(names)]) for i in range(9))
    )
    same = sum(c.tokens == alone[names[i % len(names)]] for i, c in enumerate(together))
    return {
        "adapters": len(versions),
        "rows": len(together),
        "largest_batch": max(c.batch_size for c in together),
        "rows_equal_to_alone": same,
        "adapters_change_the_output": len({tuple(t) for t in alone.values()}) > 1,
    }


async def run(note: str) -> dict[str, Any]:
    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py checks the GPU path: torch sees no CUDA device here")
    fallbacks = Fallbacks()
    logging.getLogger("kaizen").addHandler(fallbacks)
    settings = Settings(torch_threads=1)
    model_dir = resolve_base_model(settings)
    lm = load_model(model_dir, settings.model_dtype, settings.torch_threads, settings.device)
    results: dict[str, Any] = {
        "measured": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "torch": torch.__version__,
        **machine(lm, note),
        "params_on": sorted({p.device.type for p in lm.model.parameters()}),
    }
    with GenerationEngine(lm, max_batch_size=16) as engine:
        results["syncs"] = await syncs_per_step(engine, rows=8, tokens=64)
        with tempfile.TemporaryDirectory() as tmp:
            registry = AdapterRegistry(Path(tmp) / "registry")
            versions = make_adapters(model_dir, registry, Path(tmp), 2)
            results["mixed_adapters"] = await mixed(engine, AdapterManager(engine, registry), versions)
    del lm, engine
    torch.cuda.empty_cache()
    results["kv_bound"] = await kv_bound(model_dir, settings, kv_mb=16.0, rows=32, tokens=96)
    results["placement"] = placement(model_dir, settings)
    results["engine_warnings"] = fallbacks.messages
    results["met"] = {
        "on_gpu_in_bf16": results["params_on"] == ["cuda"] and results["dtype"] == "bfloat16",
        # 0 would mean the count saw nothing: the per-step token transfer is always there.
        "at_most_one_sync_per_step": 0 < results["syncs"]["syncs_per_step"] <= 1.0,
        "kv_cache_bounded": results["kv_bound"]["queued_instead_of_growing"],
        "mixed_adapters_in_one_batch": results["mixed_adapters"]["largest_batch"] > 1,
        "training_and_evaluation_on_gpu": results["placement"]["ok"],
        "no_fallbacks": not fallbacks.messages,
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    results = asyncio.run(run(args.note))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
