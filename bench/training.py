"""Training benchmark: seconds/step and examples/s per PEFT method at batch 4, peak memory, a whole retrain
cycle (split -> train -> evaluate candidate and base -> gate -> register) on 200 examples, and the method
comparison ``auto`` chooses from.

    python bench/training.py [--quick] [--only speed|cycle|compare] [--sizes 16 48] [--epochs 2]
        ->   bench/results/training.json (the parts run replace theirs), kaizen/data/method_choice.json

The comparison trains every method on the same curated demo-domain examples (Quillmoor, closed-book stream
questions) at each size, and reports side by side per method: held-out gain over the base model closed- and
open-book (scored through serving's engine, retrain.score_sets), training seconds, adapter size on disk, activation
time (read + install into a GenerationEngine) and serving overhead (bench/methods.py's batch timing). The held-out
questions ask facts every size trains (paraphrased), so the sizes differ only in how many other facts come along.

Each speed method runs in its own process so its peak RSS (ru_maxrss) is its own. Target: cycle <= 600 s on this CPU.
"""

from __future__ import annotations

import argparse
import functools
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
            **gpu_memory(),
        }
    )


def gpu_memory() -> dict[str, Any]:
    """Where training ran on a GPU: its device and peak allocated memory (RSS says nothing about it)."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"gpu": torch.cuda.get_device_name(), "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}


def bench_methods(model_dir: Path, steps: int, threads: int) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    rows = []
    from kaizen.training.config import Method

    for method in (m.value for m in Method):
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


def compare_sets(sizes: list[int], questions: int) -> tuple[dict[int, list[Any]], list[Any]]:
    """Training sets of each size (closed-book stream questions, facts in a fixed order) and the held-out exam:
    open-book held-out questions on facts the smallest set trains."""
    from bench.evaluation import domain_example
    from kaizen.demo.domain import shipped_domain

    domain = shipped_domain()
    docs = domain.documents_by_id()
    heldout = [q for q in domain.questions("heldout") if q.kind == "lookup"]
    asked = {q.fact_id for q in heldout}
    by_fact: dict[str, list[Any]] = {}
    for q in domain.questions("stream"):
        if q.kind == "lookup":
            by_fact.setdefault(q.fact_id, []).append(q)
    # facts with a held-out question first, so the smallest set covers as many asked facts as it can
    facts = sorted(by_fact, key=lambda f: f not in asked)
    ordered = [q for f in facts for q in by_fact[f]]
    if len(ordered) < max(sizes):
        raise SystemExit(f"the demo domain has {len(ordered)} stream questions, fewer than {max(sizes)}")
    train = {n: [domain_example(q, docs, False) for q in ordered[:n]] for n in sizes}
    covered = {q.fact_id for q in ordered[: min(sizes)]}
    exam = [domain_example(q, docs, True) for q in heldout if q.fact_id in covered][:questions]
    return train, exam


def _gains(cand: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    keys = ("contains", "token_f1", "closed_book.contains", "open_book.contains", "closed_book.token_f1")
    keys += ("open_book.token_f1",)
    return {k: round(cand.get(k, 0.0) - base.get(k, 0.0), 3) for k in keys}


def _dir_kb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024, 1)


def _serving(model_dir: Path, adapters: dict[str, Path], repeats: int, tokens: int) -> dict[str, dict[str, float]]:
    """Activation (read + install into a GenerationEngine) and decode overhead of each trained adapter."""
    import asyncio

    from bench.methods import batch_seconds
    from kaizen.llm.adapters import install_adapter
    from kaizen.llm.engine import GenerationEngine
    from kaizen.training.generation import exam_model

    rows = 4
    out: dict[str, dict[str, float]] = {}
    with GenerationEngine(exam_model(model_dir), max_batch_size=rows) as engine:
        asyncio.run(batch_seconds(engine, [None] * rows, 2))  # warm-up
        for name, path in adapters.items():
            t = time.perf_counter()
            install_adapter(engine, name, path)
            activate_ms = (time.perf_counter() - t) * 1000
            base, own = [], []
            for _ in range(repeats):  # interleaved, so a load change on the machine hits both alike
                base.append(asyncio.run(batch_seconds(engine, [None] * rows, tokens)))
                own.append(asyncio.run(batch_seconds(engine, [name] * rows, tokens)))
            out[name] = {"activate_ms": round(activate_ms, 1), "serving_overhead": round(min(own) / min(base) - 1, 3)}
    return out


def compare(model_dir: Path, args: argparse.Namespace, write: Any) -> None:
    """Every method at every size; each finished row is written at once (a cut-short run keeps what it measured)."""
    from kaizen.config import get_settings
    from kaizen.training import retrain as steps_
    from kaizen.training.choice import TABLE, MeasuredRow, load_table, model_parameters
    from kaizen.training.config import Method, default_config
    from kaizen.training.splits import Splits

    metric = get_settings().retrain_gate_metric
    train_sets, exam = compare_sets(args.sizes, args.questions)
    params = model_parameters(model_dir) or 0
    tokens = 12 if args.quick else 24
    result: dict[str, Any] = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": args.machine,
        "model": model_dir.name,
        "model_params": params,
        "heldout_questions": len(exam),
        "gain_metric": metric,
        "eval_max_new_tokens": tokens,
        "sizes": {},
    }
    table = load_table()
    with tempfile.TemporaryDirectory() as tmp:
        for n, train_set in train_sets.items():
            splits = Splits(train=train_set, heldout=exam, regression=[])
            overrides: dict[str, Any] = {"eval_max_new_tokens": tokens, "batch_size": 4}
            if args.steps:
                overrides["steps"] = args.steps
            elif args.epochs:
                overrides["epochs"] = args.epochs
            base = steps_.score_sets(model_dir, None, splits, default_config(n, **overrides)).heldout
            size: dict[str, Any] = {"base": {k: round(v, 3) for k, v in base.items()}, "methods": {}}
            result["sizes"][str(n)] = size
            adapters: dict[str, Path] = {}
            for method in Method:
                config = default_config(n, method=method, **overrides)
                t = time.perf_counter()
                cand = steps_.train_candidate(model_dir, train_set, config, Path(tmp) / f"{n}-{method.value}")
                train_s = time.perf_counter() - t
                scores = steps_.score_sets(model_dir, cand.adapter_dir, splits, config).heldout
                adapters[method.value] = cand.adapter_dir
                size["methods"][method.value] = {
                    "steps": cand.result.steps,
                    "learning_rate": config.learning_rate,
                    "trainable_parameters": cand.result.trainable_parameters,
                    "train_s": round(train_s, 1),
                    "adapter_kb": _dir_kb(cand.adapter_dir),
                    "gain": _gains(scores, base),
                }
                print(json.dumps({"n_train": n, "method": method.value, **size["methods"][method.value]}), flush=True)
                write({"compare": result})
            serving = _serving(model_dir, adapters, 1 if args.quick else 2, 4 if args.quick else 16)
            for name, row in serving.items():
                size["methods"][name].update(row)
            row = MeasuredRow(
                model=model_dir.name,
                model_params=params,
                n_train=n,
                metric=metric,
                gains={Method(m): r["gain"][metric] for m, r in size["methods"].items()},
                train_seconds={Method(m): r["train_s"] for m, r in size["methods"].items()},
                steps=next(iter(size["methods"].values()))["steps"],
            )
            best = row.best()
            size["best"] = best.value if best else None
            write({"compare": result})
            if not args.quick:  # a quick run's gains measure nothing auto should follow
                table.upsert(row)
                table.source = "bench/training.py --only compare (demo domain, held-out gain over the base model)"
                table.machine = args.machine
                TABLE.write_text(table.model_dump_json(indent=2) + "\n")


def _write(part: dict[str, Any], results: Path = RESULTS) -> None:
    """Replace the parts just run in the results file, keeping the others' last measurement."""
    old = json.loads(results.read_text()) if results.exists() else {}
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({**old, **part}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 steps per method, a 24-example cycle, tiny compare")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=["speed", "cycle", "compare"], action="append")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 60], help="compare: training-set sizes")
    parser.add_argument("--epochs", type=float, default=None, help="compare: passes (default: default_config's)")
    parser.add_argument("--steps", type=int, default=None, help="compare: fixed steps per size (wins over epochs)")
    parser.add_argument("--questions", type=int, default=8, help="compare: held-out questions")
    parser.add_argument("--machine", default="", help="compare: how to label the machine in the results")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (a GPU's: training-cuda.json)")
    args = parser.parse_args()
    write = functools.partial(_write, results=args.out)
    parts = set(args.only or ["speed", "cycle", "compare"])

    import torch

    torch.set_num_threads(args.threads)
    from kaizen.config import get_settings
    from kaizen.llm.prepare import resolve_base_model

    model_dir = resolve_base_model(get_settings())
    if "speed" in parts:
        rows = bench_methods(model_dir, 2 if args.quick else 8, args.threads)
        lora = next(r for r in rows if r["method"] == "lora")
        ratios = {r["method"]: round(r["seconds_per_step"] / lora["seconds_per_step"], 3) for r in rows}
        write({"quick": args.quick, "threads": args.threads, "model": str(model_dir), "methods": rows})
        write({"seconds_per_step_vs_lora": ratios})
    if "cycle" in parts:
        cycle = bench_cycle(model_dir, 24 if args.quick else 200, 2 if args.quick else None)
        print(json.dumps(cycle), flush=True)
        write({"cycle": cycle})
    if "compare" in parts:
        if args.quick:
            args.sizes, args.steps, args.questions = [4, 8], 1, 2
        compare(model_dir, args, write)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
