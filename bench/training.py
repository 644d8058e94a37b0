"""Training benchmark: seconds/step and examples/s per PEFT method at batch 4, peak memory, and a whole retrain
cycle (split -> train -> evaluate candidate and base -> gate -> register) on 200 examples.

    python bench/training.py [--quick]   ->   bench/results/training.json

Each method runs in its own process so its peak RSS (ru_maxrss) is its own. Target: cycle <= 600 s on this CPU.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "training.json"
CYCLE_TARGET_S = 600.0


def examples(n: int) -> list[Any]:
    from kaizen.events import InstructionExample

    words = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "indigo", "jade"]
    return [
        InstructionExample(
            example_id=f"bench-{i}",
            feedback_id=uuid.UUID(int=i),
            response_id=uuid.UUID(int=10_000 + i),
            instruction=f"What is the code name of project {i}?",
            output=f"Project {i} is called {words[i % 10]} {words[(i // 10) % 10]}.",
        )
        for i in range(n)
    ]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _method_worker(model_dir: str, method: str, steps: int, threads: int, queue: Any) -> None:
    import torch

    torch.set_num_threads(threads)
    from kaizen.llm.model import load_model, load_tokenizer
    from kaizen.training.adapters import attach
    from kaizen.training.config import MASTER_DTYPE, TrainingConfig
    from kaizen.training.data import to_training_examples
    from kaizen.training.trainer import train

    tok = load_tokenizer(Path(model_dir))
    data = to_training_examples(examples(64))
    config = TrainingConfig(method=method, steps=steps, batch_size=4, learning_rate=1e-4)
    model = attach(load_model(Path(model_dir), MASTER_DTYPE).model, config)
    train(model, tok, data[:8], config.model_copy(update={"steps": 1}))  # warm-up: first step allocates
    rss_before = peak_rss_mb()
    result = train(model, tok, data, config)
    queue.put(
        {
            "method": method,
            "batch_size": 4,
            "steps": steps,
            "seconds_per_step": round(result.seconds_per_step, 3),
            "examples_per_second": round(result.examples_per_second, 3),
            "trainable_parameters": result.trainable_parameters,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "peak_rss_mb_before_timed_steps": round(rss_before, 1),
        }
    )


def bench_methods(model_dir: Path, steps: int, threads: int) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    rows = []
    for method in ("lora", "prefix", "ptuning", "freeze"):
        queue = ctx.Queue()
        proc = ctx.Process(target=_method_worker, args=(str(model_dir), method, steps, threads, queue))
        proc.start()
        rows.append(queue.get())
        proc.join()
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_cycle(model_dir: Path, n: int, steps: int | None) -> dict[str, Any]:
    """The retrain flow's steps without Prefect (its own overhead is a few seconds per run)."""
    from kaizen.config import Settings
    from kaizen.datasets.examples import snapshot_of
    from kaizen.registry import AdapterRegistry
    from kaizen.training import retrain as steps_
    from kaizen.training.gate import decide

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), base_model=str(model_dir))
        registry = AdapterRegistry.from_settings(settings)
        snapshot = snapshot_of(examples(n))
        timings: dict[str, float] = {}
        start = time.perf_counter()
        overrides = {"steps": steps, "eval_max_new_tokens": 12} if steps else None
        config = steps_.resolve_config(settings, n, overrides=overrides)
        splits = steps_.prepare_splits(snapshot, registry, config)
        config = steps_.resolve_config(settings, len(splits.train), overrides=overrides)
        t = time.perf_counter()
        candidate = steps_.train_candidate(model_dir, splits.train, config, Path(tmp) / "adapter")
        timings["train_s"] = time.perf_counter() - t
        t = time.perf_counter()
        cand = steps_.score_sets(model_dir, candidate.adapter_dir, splits, config)
        base = steps_.score_sets(model_dir, None, splits, config)
        timings["evaluate_s"] = time.perf_counter() - t
        decision = decide(
            steps_.gate_policy(settings),
            candidate_heldout=cand.heldout,
            baseline_heldout=base.heldout,
            candidate_regression=cand.regression,
            baseline_regression=base.regression,
        )
        manifest = steps_.register_candidate(
            registry,
            candidate,
            cand,
            decision,
            snapshot=snapshot,
            base_model=model_dir.name,
            base_hash="bench",
            rollout="promoted",
        )
        wall = time.perf_counter() - start
    return {
        "examples": n,
        "splits": splits.sizes(),
        "method": config.method.value,
        "steps": candidate.result.steps,
        "wall_s": round(wall, 1),
        **{k: round(v, 1) for k, v in timings.items()},
        "target_s": CYCLE_TARGET_S,
        "within_target": wall <= CYCLE_TARGET_S,
        "candidate_token_f1": round(cand.heldout.get("token_f1", 0.0), 3),
        "base_token_f1": round(base.heldout.get("token_f1", 0.0), 3),
        "status": manifest.status.value,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 steps per method, a 24-example cycle")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from kaizen.config import get_settings
    from kaizen.llm.prepare import resolve_base_model

    model_dir = resolve_base_model(get_settings())
    method_steps = 2 if args.quick else 8
    rows = bench_methods(model_dir, method_steps, args.threads)
    cycle = bench_cycle(model_dir, 24 if args.quick else 200, 2 if args.quick else None)
    print(json.dumps(cycle), flush=True)
    lora = next(r for r in rows if r["method"] == "lora")
    result = {
        "quick": args.quick,
        "threads": args.threads,
        "model": str(model_dir),
        "methods": rows,
        "seconds_per_step_vs_lora": {
            r["method"]: round(r["seconds_per_step"] / lora["seconds_per_step"], 3) for r in rows
        },
        "cycle": cycle,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
