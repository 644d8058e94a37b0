"""Accuracy and latency of every training-free strategy, side by side, on questions the base model cannot know.

The sample domain (a fictional organisation, kaizen/data/domains/quillmoor) is ingested into a fresh LanceDB
knowledge base; each strategy answers the same questions through the real default model. Closed-book strategies
(direct, cot) get no knowledge base; the others get all of the domain's knowledge bases.

    python bench/reasoning.py [--quick] [--questions N] [--strategies direct,rag,...]

writes bench/results/reasoning.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kaizen.config import Settings  # noqa: E402
from kaizen.events import DocumentEvent, InteractionRequest, InteractionResponse, Mode, RequestOptions  # noqa: E402
from kaizen.reasoning import ReasoningDeps, answer  # noqa: E402
from kaizen.reasoning.factory import build_deps  # noqa: E402
from kaizen.reasoning.parsing import answers_match  # noqa: E402

DEMO = ROOT / "kaizen" / "data" / "domains" / "quillmoor"
RESULTS = ROOT / "bench" / "results" / "reasoning.json"
CLOSED_BOOK = {"direct", "cot", "self_consistency"}
ALL_STRATEGIES = ["direct", "cot", "rag", "chain", "agent", "auto"]


class DemoQuestion(BaseModel):
    question_id: str
    question: str
    answer: str
    document_id: str
    knowledge_base: str
    kind: str = "lookup"
    supporting_document_ids: list[str] = []


class Outcome(BaseModel):
    question_id: str
    kind: str
    strategy: str
    chosen: str
    correct: bool
    latency_ms: float
    model_calls: int
    prompt_tokens: int
    gold_retrieved: bool
    gold_cited: bool
    error: str | None
    answer: str


def pick_questions(n: int, seed: int) -> list[DemoQuestion]:
    """A fixed, stratified sample: multi-hop and arithmetic questions are rare but are what chain/agent are for."""
    rows = [DemoQuestion.model_validate_json(line) for line in (DEMO / "questions.jsonl").read_text().splitlines()]
    rng = random.Random(seed)
    by_kind: dict[str, list[DemoQuestion]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    for group in by_kind.values():
        rng.shuffle(group)
    quota = {k: max(1, round(n * 0.2)) for k in by_kind if k != "lookup"}
    quota["lookup"] = n - sum(quota.values())
    picked = [q for kind, k in quota.items() for q in by_kind.get(kind, [])[:k]]
    return sorted(picked, key=lambda q: q.question_id)[:n]


def ingest_demo(settings: Settings) -> tuple[list[str], float]:
    from kaizen.retrieval.indexer import Indexer

    indexer = Indexer.from_settings(settings)
    started = time.perf_counter()
    kbs: set[str] = set()
    for line in (DEMO / "documents.jsonl").read_text().splitlines():
        doc = json.loads(line)
        kbs.add(doc["knowledge_base"])
        indexer.apply(
            DocumentEvent(
                document_id=doc["document_id"],
                knowledge_base=doc["knowledge_base"],
                title=doc.get("title", ""),
                text=doc["text"],
            )
        )
    return sorted(kbs), time.perf_counter() - started


async def open_llm(settings: Settings, stack: AsyncExitStack) -> Any:
    from kaizen.llm.engine import GenerationEngine

    return stack.enter_context(GenerationEngine.from_settings(settings))


def _request(q: DemoQuestion, strategy: str, kbs: list[str], max_new_tokens: int) -> InteractionRequest:
    mode = Mode.cot if strategy == "self_consistency" else Mode(strategy)
    options = RequestOptions(
        max_new_tokens=max_new_tokens, self_consistency=5 if strategy == "self_consistency" else 0, max_rounds=2
    )
    return InteractionRequest(
        question=q.question, mode=mode, knowledge_bases=[] if strategy in CLOSED_BOOK else kbs, options=options
    )


def _outcome(q: DemoQuestion, strategy: str, response: InteractionResponse) -> Outcome:
    gold_docs = {q.document_id, *q.supporting_document_ids}
    generations = [s for s in response.trace if s.step == "generate"]
    return Outcome(
        question_id=q.question_id,
        kind=q.kind,
        strategy=strategy,
        chosen=response.strategy,
        correct=answers_match(response.answer, q.answer),
        latency_ms=response.latency_ms,
        model_calls=len(generations),
        prompt_tokens=sum(int(s.detail.get("prompt_tokens") or 0) for s in generations),
        gold_retrieved=any(c.split("#")[0] in gold_docs for c in response.retrieved_chunk_ids),
        gold_cited=any(c.document_id in gold_docs for c in response.citations),
        error=response.error,
        answer=response.answer,
    )


async def run_strategy(
    strategy: str, questions: list[DemoQuestion], deps: ReasoningDeps, kbs: list[str], concurrency: int, tokens: int
) -> list[Outcome]:
    # Questions run concurrently so the engine can batch them, as it would under real traffic.
    gate = asyncio.Semaphore(concurrency)

    async def one(q: DemoQuestion) -> Outcome:
        async with gate:
            return _outcome(q, strategy, await answer(_request(q, strategy, kbs, tokens), deps))

    return list(await asyncio.gather(*(one(q) for q in questions)))


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] if ordered else 0.0


def summarise(outcomes: list[Outcome], wall_s: float) -> dict[str, Any]:
    latencies = [o.latency_ms for o in outcomes]
    kinds = sorted({o.kind for o in outcomes})
    return {
        "accuracy": round(sum(o.correct for o in outcomes) / len(outcomes), 4),
        "accuracy_by_kind": {k: round(statistics.mean(o.correct for o in outcomes if o.kind == k), 4) for k in kinds},
        "latency_ms_p50": round(_percentile(latencies, 0.5), 1),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 1),
        "latency_ms_mean": round(statistics.mean(latencies), 1),
        "wall_s": round(wall_s, 1),
        "model_calls_mean": round(statistics.mean(o.model_calls for o in outcomes), 2),
        "prompt_tokens_mean": round(statistics.mean(o.prompt_tokens for o in outcomes), 1),
        "gold_document_retrieved": round(statistics.mean(o.gold_retrieved for o in outcomes), 4),
        "gold_document_cited": round(statistics.mean(o.gold_cited for o in outcomes), 4),
        "errors": sum(o.error is not None for o in outcomes),
        "chosen_strategies": dict(Counter(o.chosen for o in outcomes)),
    }


def build_report(
    args: argparse.Namespace,
    questions: list[DemoQuestion],
    kbs: list[str],
    ingest_s: float,
    results: dict[str, Any],
    outcomes: dict[str, list[Outcome]],
) -> dict[str, Any]:
    baseline = results.get("direct", {}).get("accuracy")
    latency_base = results.get("direct", {}).get("latency_ms_mean")
    return {
        "benchmark": "reasoning",
        "complete": len(results) == len(args.strategies),
        "questions": len(questions),
        "question_kinds": dict(Counter(q.kind for q in questions)),
        "knowledge_bases": kbs,
        "ingest_s": round(ingest_s, 1),
        "concurrency": args.concurrency,
        "torch_threads": args.threads,
        "model": "default base model (Gemma 3 270M), no adapter",
        "strategies": results,
        "ratios_vs_closed_book_direct": {
            s: {
                "accuracy_gain": round(r["accuracy"] - baseline, 4) if baseline is not None else None,
                "latency_x": round(r["latency_ms_mean"] / latency_base, 2) if latency_base else None,
            }
            for s, r in results.items()
        },
        "per_question": {s: [o.model_dump() for o in out] for s, out in outcomes.items()},
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    questions = pick_questions(args.questions, args.seed)
    results: dict[str, Any] = {}
    outcomes: dict[str, list[Outcome]] = {}
    with tempfile.TemporaryDirectory(prefix="kaizen-bench-reasoning-") as tmp:
        base = Settings()
        settings = base.with_overrides(
            data_dir=Path(tmp), models_dir=base.resolved_models_dir, vector_store_url="", registry_url=""
        )
        kbs, ingest_s = ingest_demo(settings)
        async with AsyncExitStack() as stack:
            llm = await open_llm(settings, stack)
            deps = build_deps(settings, llm)
            for strategy in args.strategies:
                started = time.perf_counter()
                outcomes[strategy] = await run_strategy(
                    strategy, questions, deps, kbs, args.concurrency, args.max_new_tokens
                )
                results[strategy] = summarise(outcomes[strategy], time.perf_counter() - started)
                print(f"{strategy:>16}: accuracy {results[strategy]['accuracy']:.2f}, "
                      f"p50 {results[strategy]['latency_ms_p50']:.0f} ms", flush=True)  # fmt: skip
                # Written after every strategy: a long run cut short still leaves what it measured.
                write_report(args.out, build_report(args, questions, kbs, ingest_s, results, outcomes))
    return build_report(args, questions, kbs, ingest_s, results, outcomes)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 questions")
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--strategies", default=",".join(ALL_STRATEGIES), help="comma-separated; also self_consistency")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.questions = min(args.questions, 20)
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = set(args.strategies) - {*ALL_STRATEGIES, "self_consistency"}
    if unknown:
        parser.error(f"unknown strategies: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    write_report(args.out, asyncio.run(main_async(args)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
