"""Every strategy through the real default model (Gemma 3 270M, base) and a real LanceDB knowledge base built
from the sample domain, which the base model cannot know."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaizen.config import Settings
from kaizen.events import DocumentEvent, InteractionRequest, InteractionResponse, Mode, RequestOptions, Turn
from kaizen.reasoning import ExemplarPool, PromptLibrary, ReasoningDeps, answer
from kaizen.reasoning.parsing import answers_match

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "kaizen" / "data" / "domains" / "quillmoor" / "documents.jsonl"
DOCUMENTS = {
    "prod-osprey-o5",
    "hb-on-call",
    "prod-kestrel-k4",
    "hb-site-varnholt",
    "pol-parental-leave",
    "hb-onboarding",
    "prod-tern-t3",
    "hb-annual-leave",
}
KBS = ["products", "handbook", "policies"]


@pytest.fixture(scope="module")
def demo_kb(tmp_path_factory: pytest.TempPathFactory, real_embedder):  # type: ignore[no-untyped-def]
    from kaizen.retrieval.factory import make_chunker, make_store
    from kaizen.retrieval.indexer import Indexer
    from kaizen.retrieval.knowledge_base import KnowledgeBase

    settings = Settings(data_dir=tmp_path_factory.mktemp("reasoning-kb"))
    store = make_store(settings, dimension=real_embedder.dimension)
    indexer = Indexer(store, real_embedder, make_chunker(settings, real_embedder))
    for line in DEMO.read_text().splitlines():
        doc = json.loads(line)
        if doc["document_id"] in DOCUMENTS:
            indexer.apply(
                DocumentEvent(
                    document_id=doc["document_id"],
                    knowledge_base=doc["knowledge_base"],
                    title=doc["title"],
                    text=doc["text"],
                )
            )
    return KnowledgeBase(store, real_embedder)


@pytest.fixture(scope="module")
def deps(real_engine, demo_kb, real_embedder, tmp_path_factory: pytest.TempPathFactory) -> ReasoningDeps:  # type: ignore[no-untyped-def]
    pool = ExemplarPool(real_embedder.embed, store_dir=tmp_path_factory.mktemp("exemplars"))
    return ReasoningDeps(llm=real_engine, retriever=demo_kb, exemplars=pool, prompts=PromptLibrary(), cot_exemplars=3)


def ask(question: str, mode: Mode, *, kbs: list[str] | None = None, **options: object) -> InteractionRequest:
    defaults: dict[str, object] = {"max_new_tokens": 48, "top_k": 3, "max_rounds": 2}
    return InteractionRequest(
        question=question,
        mode=mode,
        knowledge_bases=KBS if kbs is None else kbs,
        options=RequestOptions(**{**defaults, **options}),
    )


def check(response: InteractionResponse) -> list[dict]:
    """Common to every strategy: no error, an answer, and a trace of real model calls."""
    assert response.error is None, response.error
    assert response.answer.strip()
    generations = [s.detail for s in response.trace if s.step == "generate"]
    assert generations and all(g["prompt_tokens"] > 0 for g in generations)
    assert response.prompt_version and response.latency_ms > 0
    InteractionResponse.model_validate_json(response.to_bytes())
    return generations


def retrieved_docs(response: InteractionResponse) -> set[str]:
    return {c.split("#")[0] for c in response.retrieved_chunk_ids}


async def test_real_direct_is_closed_book(deps: ReasoningDeps) -> None:
    response = await answer(ask("How much liquid does the Osprey O5 spray tank hold?", Mode.direct, kbs=[]), deps)
    [generation] = check(response)
    assert response.retrieved_chunk_ids == [] and response.prompt_version.startswith("direct@v2#")
    assert generation["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize(
    ("history", "question", "gold"),
    [
        (("Who founded Quillmoor?", "Ada Brook, born in 1887, founded Quillmoor."), "When was she born?", "1887"),
        (("Hello, my name is Orla Penhaligon. What is the capital of France?", "Paris"), "What is my name?", "Orla"),
    ],
)
async def test_real_follow_up_is_answered_from_the_previous_turn(
    deps: ReasoningDeps, history: tuple[str, str], question: str, gold: str
) -> None:
    turns = [Turn(role="user", content=history[0]), Turn(role="assistant", content=history[1])]
    alone = await answer(ask(question, Mode.direct, kbs=[]), deps)
    follow_up = await answer(ask(question, Mode.direct, kbs=[]).model_copy(update={"history": turns}), deps)
    check(follow_up)
    assert answers_match(follow_up.answer, gold), follow_up.answer
    assert not answers_match(alone.answer, gold), alone.answer  # only the earlier turn tells


async def test_real_system_instruction_is_obeyed(deps: ReasoningDeps) -> None:
    system = (
        "You are the assistant of Quillmoor, a robotics company in Varnholt. "
        "When asked which company you work for, answer Quillmoor."
    )
    question = "Which company do you work for?"
    alone = await answer(ask(question, Mode.direct, kbs=[]), deps)
    instructed = await answer(ask(question, Mode.direct, kbs=[]).model_copy(update={"system": system}), deps)
    check(instructed)
    assert "quillmoor" in instructed.answer.casefold(), instructed.answer
    assert "quillmoor" not in alone.answer.casefold(), alone.answer


async def test_real_cot_picks_exemplars_by_embedding(deps: ReasoningDeps) -> None:
    req = ask("An employee gets 25 days of leave a year and has used 10. How many days are left?", Mode.cot, kbs=[])
    response = await answer(req, deps)
    check(response)
    [selection] = [s for s in response.trace if s.step == "select_exemplars"]
    assert selection.name == "mmr" and "seed-09" in selection.detail["exemplar_ids"]


async def test_real_self_consistency_votes(deps: ReasoningDeps) -> None:
    req = ask("A box holds 6 pens. How many pens are in 4 boxes?", Mode.cot, kbs=[], self_consistency=3)
    response = await answer(req, deps)
    generations = check(response)
    assert response.strategy == "self_consistency"
    assert sorted(g["seed"] for g in generations) == [0, 1, 2] and all(g["temperature"] > 0 for g in generations)
    [vote] = [s for s in response.trace if s.step == "vote"]
    assert sum(vote.detail["votes"].values()) <= 3


async def test_real_rag_answers_from_the_knowledge_base(deps: ReasoningDeps) -> None:
    question, gold = "How much liquid does the Osprey O5 spray tank hold?", "9.5 litres"
    closed = await answer(ask(question, Mode.direct, kbs=[]), deps)
    response = await answer(ask(question, Mode.rag), deps)
    check(response)
    assert "prod-osprey-o5" in retrieved_docs(response)
    assert answers_match(response.answer, gold), response.answer
    assert not answers_match(closed.answer, gold)  # the base model cannot know it
    [cite] = [s for s in response.trace if s.step == "cite"]
    assert set(cite.detail["cited_chunk_ids"]) <= set(response.retrieved_chunk_ids)


async def test_real_chain_hops(deps: ReasoningDeps) -> None:
    req = ask("Who is the plant manager of the site that assembles the Kestrel K4?", Mode.chain)
    response = await answer(req, deps)
    check(response)
    hops = [s for s in response.trace if s.step == "hop"]
    assert hops and hops[0].detail["queries"] == [req.question]
    assert "prod-kestrel-k4" in retrieved_docs(response)
    assert response.reasoning  # one line per draft


async def test_real_agent_runs_the_sop(deps: ReasoningDeps) -> None:
    req = ask("How many working days do onboarding orientation and shadowing take together?", Mode.agent)
    response = await answer(req, deps)
    check(response)
    steps = [s.step for s in response.trace]
    assert steps.index("plan") < steps.index("tool") < steps.index("review")
    assert "hb-onboarding" in retrieved_docs(response)
    assert any(r.startswith("planner (plan)") for r in response.reasoning)


async def test_real_auto_routes_knowledge_questions_to_retrieval(deps: ReasoningDeps) -> None:
    response = await answer(ask("What standby payment do on-call engineers receive?", Mode.auto), deps)
    check(response)
    assert response.strategy == "rag" and "hb-on-call" in retrieved_docs(response)


async def test_build_deps_wires_the_configured_stores(tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    from kaizen.reasoning.factory import build_deps
    from kaizen.reasoning.testing import ScriptedLLM
    from kaizen.retrieval.knowledge_base import KnowledgeBase

    deps = build_deps(Settings(data_dir=tmp_path), ScriptedLLM(default=" 7"), self_consistency_samples=3)
    assert isinstance(deps.retriever, KnowledgeBase) and deps.self_consistency_samples == 3
    chosen = await deps.exemplars.select("What day is it 3 days after Monday?", "default", 2)
    assert chosen[0].exemplar_id == "seed-08"
