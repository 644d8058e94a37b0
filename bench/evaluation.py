"""Evaluation runtime benchmark: the gate's answers against serving's, and the exam's time, old path vs new.

    python bench/evaluation.py [--quick] [--questions 6] [--steps 12]   ->   bench/results/evaluation.json

On the shipped demo domain (Quillmoor) with the real base model: a LoRA trained briefly on the streamed questions
and registered, then the held-out questions (closed- and open-book, the answering document as the source) answered
three ways:
- ``old``: the gate before #22: a float32 copy, the adapter loaded onto it, transformers' ``generate``;
- ``new``: the gate now (kaizen.training.generation): serving's dtype and adapter loader, the engine's decoding;
- ``serving``: the serving engine as the service builds it, the adapter manager loading the registry version,
  one request at a time.
Reported: scores of each, how many answers equal serving's (text, and tokens for the new path), seconds and the RSS
peak of each exam (load included).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).parent / "results" / "evaluation.json"


def domain_example(q: Any, docs: dict[str, Any], open_book: bool) -> Any:
    """A demo question as a training/exam example; open-book ones carry the answering document as the source."""
    from kaizen.training.data import TrainingExample
    from kaizen.training.prompting import as_source

    doc = docs[q.document_id]
    sources = [as_source(1, doc.title, doc.text, 800)] if open_book else []
    return TrainingExample(
        example_id=q.question_id,
        kind="raft" if open_book else "instruction",
        question=q.question,
        reference=q.answer,
        sources=sources,
        oracle_numbers=[1] if open_book else [],
    )


def _examples(questions: int) -> tuple[list[Any], list[Any]]:
    from kaizen.demo.domain import shipped_domain

    domain = shipped_domain()
    docs = domain.documents_by_id()
    train = [domain_example(q, docs, False) for q in domain.questions("stream")]
    heldout = [domain_example(q, docs, True) for q in domain.questions("heldout") if q.kind == "lookup"][:questions]
    return train, heldout


def _adapter(model_dir: Path, train: list[Any], steps: int, out: Path) -> Path:
    from kaizen.training import retrain as steps_
    from kaizen.training.config import default_config

    config = default_config(len(train), steps=steps, batch_size=4)
    return steps_.train_candidate(model_dir, train, config, out).adapter_dir


@torch.inference_mode()
def _hf_generate(lm: Any, prompts: list[str], *, max_new_tokens: int, batch_size: int) -> list[str]:
    """The old exam: transformers' ``generate`` on the fp32 training copy, left-padded batches by length."""
    from kaizen.reasoning.text import STOP_AFTER_LINE
    from kaizen.training.prompting import cut_at_stop

    tokenizer, model = lm.tokenizer, lm.model
    encoded = [tokenizer(p)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    answers: dict[int, str] = {}
    for start in range(0, len(order), batch_size):
        members = order[start : start + batch_size]
        rows = [encoded[i] for i in members]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), lm.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=lm.pad_id,
            eos_token_id=lm.eos_ids,
            stop_strings=STOP_AFTER_LINE,
            tokenizer=tokenizer,
        )
        texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        answers.update(zip(members, texts, strict=True))
    return [cut_at_stop(answers[i]) for i in range(len(prompts))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="3 questions, 4 training steps")
    args = parser.parse_args()
    if args.quick:
        args.questions, args.steps = 3, 4

    from peft import PeftModel

    from kaizen.config import get_settings
    from kaizen.llm.adapters import AdapterManager
    from kaizen.llm.engine import GenerationEngine
    from kaizen.llm.fingerprint import fingerprint
    from kaizen.llm.model import load_model
    from kaizen.llm.prepare import resolve_base_model
    from kaizen.reasoning.text import STOP_AFTER_LINE
    from kaizen.registry import AdapterManifest, AdapterRegistry
    from kaizen.training import generation
    from kaizen.training.evaluate import _exams, evaluate_with
    from kaizen.training.memory import MemoryGuard

    settings = get_settings()
    model_dir = resolve_base_model(settings)
    train, heldout = _examples(args.questions)
    prompts = [ex.prompt(open_book=mode == "open_book") for ex, mode in _exams(heldout)]
    budget, batch = args.max_new_tokens, args.batch_size
    out: dict[str, Any] = {"model": model_dir.name, "questions": len(heldout), "prompts": len(prompts)}
    with tempfile.TemporaryDirectory() as tmp, MemoryGuard(0) as guard:
        t = time.perf_counter()
        adapter_dir = _adapter(model_dir, train, args.steps, Path(tmp) / "adapter")
        out["train"] = {"examples": len(train), "steps": args.steps, "seconds": round(time.perf_counter() - t, 1)}
        registry = AdapterRegistry(Path(tmp) / "registry")
        manifest = AdapterManifest(version="v1", base_model=model_dir.name, base_model_hash=fingerprint(model_dir))
        registry.register(adapter_dir, manifest)
        answers: dict[str, list[str]] = {}
        seconds: dict[str, float] = {}
        tokens: dict[str, list[list[int]]] = {}

        with guard.stage("old"):
            t = time.perf_counter()
            lm = load_model(model_dir, "float32")
            lm.model = PeftModel.from_pretrained(lm.model, str(adapter_dir)).eval()
            answers["old"] = _hf_generate(lm, prompts, max_new_tokens=budget, batch_size=batch)
            seconds["old"] = time.perf_counter() - t
            del lm
        with guard.stage("new"):
            t = time.perf_counter()
            lm = generation.exam_model(model_dir)
            done = generation.complete_all(
                lm, prompts, adapter_dir=adapter_dir, max_new_tokens=budget, batch_size=batch
            )
            seconds["new"] = time.perf_counter() - t
            answers["new"], tokens["new"] = [c.text for c in done], [c.tokens for c in done]
            del lm
        with guard.stage("serving"):
            t = time.perf_counter()
            with GenerationEngine.from_settings(settings, model_dir=model_dir) as engine:
                AdapterManager(engine, registry).load("v1")
                done = [engine.complete(p, max_new_tokens=budget, stop=STOP_AFTER_LINE, adapter="v1") for p in prompts]
            seconds["serving"] = time.perf_counter() - t
            answers["serving"], tokens["serving"] = [c.text for c in done], [c.tokens for c in done]

    served = answers["serving"]
    for path in ("old", "new", "serving"):
        by_prompt = dict(zip(prompts, answers[path], strict=True))
        report = evaluate_with(lambda ps, a=by_prompt: [a[p] for p in ps], heldout, max_new_tokens=budget)
        out[path] = {
            "seconds": round(seconds[path], 1),
            "peak_rss_mb": guard.peaks.get(path),
            "answers_equal_to_serving": sum(a == s for a, s in zip(answers[path], served, strict=True)),
            "metrics": {k: round(v, 3) for k, v in report.metrics.items()},
        }
    out["new"]["tokens_equal_to_serving"] = sum(a == s for a, s in zip(tokens["new"], tokens["serving"], strict=True))
    out["dtype"] = generation.exam_runtime()
    out["old_over_new_seconds"] = round(seconds["old"] / seconds["new"], 2)
    out["differences_old_vs_serving"] = [
        {"prompt_tail": p[-80:], "old": a, "serving": s}
        for p, a, s in zip(prompts, answers["old"], served, strict=True)
        if a != s
    ]
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
