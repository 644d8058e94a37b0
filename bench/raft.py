"""The RAFT comparison (Zhang et al. 2024, Table 1) on Kaizen's own data: the demo domain and the default base model.

    python bench/raft.py [--quick] [--train 40] [--questions 12] [--arms base dsf raft raft-nocot mix]
        ->   bench/results/raft.json

The data is made as the flywheel makes it. The demo's documents are indexed by the indexer (LanceDB, MiniLM, the
demo's chunk size); each training question is retrieved for (the rag strategy's hybrid top-k), answered wrongly, and
corrected by a user who names the source document; the curator turns that feedback into an instruction example and
a RAFT example (the oracle chunks of the named document, distractors from the retrieved and random chunks, P and k
as configured). Arms, each trained with the method ``auto`` chooses for the training-set size:
- ``base``: no training;
- ``dsf``: domain-specific fine-tuning, the instruction examples only (question -> answer, closed-book);
- ``raft``: the RAFT examples only, answers quoting the oracle before answering (RAFT's chain of thought);
- ``raft-nocot``: the same RAFT examples with the answer alone;
- ``mix``: what a Kaizen retrain trains by default, instruction and RAFT (CoT) examples together;
- ``raft-p1``: RAFT with the oracle always kept (P = 1), to test the P default.
Every arm answers the held-out questions three ways, through serving's engine and prompts: closed-book, open-book
with the retriever's real top-k, and open-book with the oracle forced in (it replaces the last hit when retrieval
missed it), so retrieval misses and reading failures are told apart. Held-out questions are split into those on
facts the training questions asked (paraphrased) and those on facts no training question asked (reading only).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from statistics import fmean
from typing import Any

from pydantic import BaseModel

RESULTS = Path(__file__).parent / "results" / "raft.json"
TENANT = "default"
MODES = ("closed_book", "rag_topk", "rag_oracle")


class Arm(BaseModel):
    name: str
    data: str  # none | instruction | raft | mix
    chain_of_thought: bool = True
    oracle_probability: float | None = None  # None: the setting's


ARMS = {
    "base": Arm(name="base", data="none"),
    "dsf": Arm(name="dsf", data="instruction"),
    "raft": Arm(name="raft", data="raft"),
    "raft-nocot": Arm(name="raft-nocot", data="raft", chain_of_thought=False),
    "mix": Arm(name="mix", data="mix"),
    "raft-p1": Arm(name="raft-p1", data="raft", oracle_probability=1.0),
}


class Exam(BaseModel):
    """One held-out question, as the three prompts it is asked with."""

    question_id: str
    subset: str  # seen_fact | unseen_fact
    retrieval_hit: bool
    examples: dict[str, Any]  # mode -> TrainingExample


def choose_questions(train_n: int, per_subset: int) -> tuple[list[Any], list[Any], list[Any]]:
    """(training questions, held-out on trained facts, held-out on facts never trained): lookup questions only,
    training facts ordered so as many held-out facts as possible are covered."""
    from kaizen.demo.domain import shipped_domain

    domain = shipped_domain()
    stream = [q for q in domain.questions("stream") if q.kind == "lookup"]
    heldout = [q for q in domain.questions("heldout") if q.kind == "lookup"]
    asked = {q.fact_id for q in heldout}
    by_fact: dict[str, list[Any]] = {}
    for q in stream:
        by_fact.setdefault(q.fact_id, []).append(q)
    # one question per fact first (more facts covered), held-out facts before the others
    facts = sorted(by_fact, key=lambda f: f not in asked)
    ordered = [by_fact[f][0] for f in facts] + [q for f in facts for q in by_fact[f][1:]]
    train = ordered[:train_n]
    trained = {q.fact_id for q in train}
    streamed = set(by_fact)
    seen = [q for q in heldout if q.fact_id in trained][:per_subset]
    unseen = [q for q in heldout if q.fact_id not in streamed][:per_subset]
    return train, seen, unseen


def index_domain(settings: Any) -> Any:
    """The demo's documents through the indexer; returns the query side over the same store."""
    from kaizen.demo.domain import shipped_domain
    from kaizen.demo.runner import document_events
    from kaizen.retrieval.indexer import Indexer
    from kaizen.retrieval.knowledge_base import KnowledgeBase

    indexer = Indexer.from_settings(settings)
    for event in document_events(shipped_domain(), TENANT):
        indexer.apply(event)
    return KnowledgeBase(indexer.store, indexer.embedder)


def curate_examples(kb: Any, settings: Any, questions: list[Any], arm: Arm, top_k: int) -> list[Any]:
    """The curator's instruction and RAFT examples for ``questions``, each a corrected rag answer naming its source."""
    from kaizen.curation.pipeline import Curator, CuratorConfig
    from kaizen.curation.raft import RaftConfig
    from kaizen.events import Feedback, InteractionResponse, Mode, Thumbs

    raft = RaftConfig(
        distractors=settings.raft_distractors,
        oracle_probability=(
            settings.raft_oracle_probability if arm.oracle_probability is None else arm.oracle_probability
        ),
        chain_of_thought=arm.chain_of_thought,
    )
    curator = Curator(CuratorConfig(raft=raft), lookup=kb.store, distractor_source=kb.store)
    kbs = sorted({q.knowledge_base for q in questions})
    out: list[Any] = []
    for q in questions:
        hits = kb.search_sync(q.question, tenant=TENANT, knowledge_bases=kbs, top_k=top_k)
        request_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bench-raft:{q.question_id}")
        response = InteractionResponse(
            tenant=TENANT,
            request_id=request_id,
            response_id=InteractionResponse.response_id_for(request_id),
            question=q.question,
            mode=Mode.rag,
            strategy="rag",
            answer="unknown",
            retrieved_chunk_ids=[h.chunk.chunk_id for h in hits],
        )
        feedback = Feedback(
            # a fixed id: the RAFT example's id, and so its P draw (keeps_oracle), is the same in every arm and run
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"bench-raft-feedback:{q.question_id}"),
            tenant=TENANT,
            response_id=response.response_id,
            thumbs=Thumbs.down,
            correction=q.answer,
            source_document_ids=[q.document_id],
        )
        curator.add_response(response)
        result = curator.add_feedback(feedback)
        if arm.data in ("instruction", "mix") and result.instruction is not None:
            out.append(result.instruction)
        if arm.data in ("raft", "mix") and result.raft is not None:
            out.append(result.raft)
    return out


def make_exams(kb: Any, seen: list[Any], unseen: list[Any], top_k: int, max_chars: int) -> list[Exam]:
    from kaizen.curation.raft import answering_chunks
    from kaizen.reasoning.sources import number_sources
    from kaizen.retrieval.types import SearchHit
    from kaizen.training.data import TrainingExample
    from kaizen.training.prompting import Source

    kbs = sorted({q.knowledge_base for q in seen + unseen})
    exams = []
    for subset, questions in (("seen_fact", seen), ("unseen_fact", unseen)):
        for q in questions:
            hits = kb.search_sync(q.question, tenant=TENANT, knowledge_bases=kbs, top_k=top_k)
            chunks = kb.store.document_chunks(tenant=TENANT, knowledge_base=q.knowledge_base, document_id=q.document_id)
            oracle_ids = {c.chunk_id for c in answering_chunks(chunks, q.answer)}
            hit = any(h.chunk.chunk_id in oracle_ids for h in hits)
            forced = list(hits)
            if not hit and oracle_ids:
                oracle = next(c for c in chunks if c.chunk_id in oracle_ids)
                forced = [*hits[: top_k - 1], SearchHit(chunk=oracle, score=0.0)]
            examples: dict[str, Any] = {}
            for mode, shown in (("rag_topk", hits), ("rag_oracle", forced)):
                sources = number_sources(list(shown), max_chars)
                examples[mode] = TrainingExample(
                    example_id=f"{q.question_id}:{mode}",
                    kind="raft",
                    question=q.question,
                    reference=q.answer,
                    sources=[Source(number=s.number, title=s.title, text=s.text) for s in sources],
                    oracle_numbers=[s.number for s in sources if s.chunk_id in oracle_ids],
                )
            examples["closed_book"] = TrainingExample(
                example_id=f"{q.question_id}:closed", kind="instruction", question=q.question, reference=q.answer
            )
            exams.append(Exam(question_id=q.question_id, subset=subset, retrieval_hit=hit, examples=examples))
    return exams


def answer_exams(lm: Any, exams: list[Exam], adapter_dir: Path | None, max_new_tokens: int) -> list[dict[str, Any]]:
    """Every exam in every mode through serving's engine; one row per (question, mode) with its scores."""
    from kaizen.training.evaluate import score
    from kaizen.training.generation import generate_answers

    asks = [(exam, mode) for exam in exams for mode in MODES]
    prompts = [exam.examples[mode].prompt(open_book=mode != "closed_book") for exam, mode in asks]
    answers = generate_answers(lm, prompts, adapter_dir=adapter_dir, max_new_tokens=max_new_tokens)
    rows = []
    for (exam, mode), answer in zip(asks, answers, strict=True):
        example = exam.examples[mode]
        scores = score(answer, example, "closed_book" if mode == "closed_book" else "open_book")
        rows.append({"question_id": exam.question_id, "subset": exam.subset, "mode": mode, "answer": answer, **scores})
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """contains / token_f1 (and citation accuracy where an oracle was shown) per mode, overall and per subset."""
    out: dict[str, Any] = {}
    for mode in MODES:
        for subset in ("all", "seen_fact", "unseen_fact"):
            picked = [r for r in rows if r["mode"] == mode and subset in ("all", r["subset"])]
            if not picked:
                continue
            cell = {k: round(fmean(r[k] for r in picked), 3) for k in ("contains", "token_f1")}
            cited = [r["citation"] for r in picked if "citation" in r]
            if cited:
                cell["citation"] = round(fmean(cited), 3)
            cell["n"] = len(picked)
            out.setdefault(mode, {})[subset] = cell
    return out


def train_arm(model_dir: Path, examples: list[Any], config: Any, out: Path) -> tuple[Path, dict[str, Any]]:
    from kaizen.training import retrain as steps_
    from kaizen.training.data import to_training_examples

    data = to_training_examples(examples)
    t = time.perf_counter()
    candidate = steps_.train_candidate(model_dir, data, config, out)
    info = {
        "examples": len(data),
        "raft_examples": sum(1 for d in data if d.kind == "raft"),
        "raft_with_oracle": sum(1 for d in data if d.kind == "raft" and d.oracle_numbers),
        "method": config.method.value,
        "steps": candidate.result.steps,
        "train_s": round(time.perf_counter() - t, 1),
        "seconds_per_step": round(candidate.result.seconds_per_step, 2),
        "final_loss": round(candidate.result.final_loss, 4),
        "skipped_for_length": len(candidate.result.skipped),
    }
    return candidate.adapter_dir, info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=40, help="training questions")
    parser.add_argument("--questions", type=int, default=12, help="held-out questions per subset")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--epochs", type=float, default=None, help="passes (default: default_config's)")
    parser.add_argument("--steps", type=int, default=None, help="fixed steps per arm (wins over epochs)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--machine", default="", help="how to label the machine in the results")
    parser.add_argument("--quick", action="store_true", help="4 training questions, 2 per subset, 1 step")
    args = parser.parse_args()
    if args.quick:
        args.train, args.questions, args.steps = 4, 2, 1

    import torch

    torch.set_num_threads(1)
    from kaizen.config import get_settings
    from kaizen.demo.plan import DemoOptions
    from kaizen.demo.runner import demo_settings
    from kaizen.demo.users import RAG_TOP_K
    from kaizen.llm.prepare import resolve_base_model
    from kaizen.training import retrain as steps_
    from kaizen.training.generation import exam_model

    model_dir = resolve_base_model(get_settings())
    train_q, seen, unseen = choose_questions(args.train, args.questions)
    result: dict[str, Any] = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": args.machine,
        "quick": args.quick,
        "model": model_dir.name,
        "training_questions": len(train_q),
        "heldout": {"seen_fact": len(seen), "unseen_fact": len(unseen)},
        "top_k": RAG_TOP_K,
        "arms": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        # The demo's settings (chunk size, k = top_k - 1 distractors), on a store of this run's own.
        settings = demo_settings(get_settings(), DemoOptions()).with_overrides(data_dir=Path(tmp) / "state")
        kb = index_domain(settings)
        exams = make_exams(kb, seen, unseen, RAG_TOP_K, 800)
        result["retrieval_hit_rate"] = round(fmean(e.retrieval_hit for e in exams), 3)
        result["raft_defaults"] = {
            "oracle_probability": settings.raft_oracle_probability,
            "distractors": settings.raft_distractors,
            "chain_of_thought": settings.raft_chain_of_thought,
        }
        overrides: dict[str, Any] = {"eval_max_new_tokens": args.max_new_tokens}
        if args.steps:
            overrides["steps"] = args.steps
        elif args.epochs:
            overrides["epochs"] = args.epochs
        # One method for every arm (auto's choice for this many questions), so the arms differ only in their data.
        config = steps_.resolve_config(settings, len(train_q), overrides=overrides)
        result["method"] = {"name": config.method.value, "reason": config.method_reason}
        lm = exam_model(model_dir)
        for name in args.arms:
            arm = ARMS[name]
            row: dict[str, Any] = {"data": arm.data, "chain_of_thought": arm.chain_of_thought}
            adapter_dir = None
            if arm.data != "none":
                examples = curate_examples(kb, settings, train_q, arm, RAG_TOP_K)
                adapter_dir, row["training"] = train_arm(model_dir, examples, config, Path(tmp) / name)
            t = time.perf_counter()
            rows = answer_exams(lm, exams, adapter_dir, args.max_new_tokens)
            row["exam_s"] = round(time.perf_counter() - t, 1)
            row["scores"] = summarize(rows)
            row["answers"] = rows
            result["arms"][name] = row
            print(json.dumps({"arm": name, **{k: v for k, v in row.items() if k != "answers"}}), flush=True)
            RESULTS.write_text(json.dumps(result, indent=2) + "\n")  # a cut-short run keeps what it measured
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
