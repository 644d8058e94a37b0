"""Conversations reach the strategies: the system prompt, history within a budget, retrieval in context."""

from __future__ import annotations

from kaizen.events import InteractionRequest, Mode, Turn
from kaizen.reasoning import ReasoningDeps, answer
from kaizen.reasoning.conversation import fitting_history, search_query
from kaizen.reasoning.testing import InMemoryRetriever, ScriptedLLM, chunk

CHUNKS = [
    chunk("parental#0", "Parental leave at Lumen Works lasts 16 weeks, fully paid.", title="Parental leave"),
    chunk("sick#0", "Sick leave needs a doctor's note after three days.", title="Sick leave"),
    chunk("bikes#0", "The bike shed lasts through winter storms.", title="Bike shed"),
]

HISTORY = [
    Turn(role="user", content="What is parental leave?"),
    Turn(role="assistant", content="Paid time off after a birth or adoption."),
]


def test_history_keeps_the_newest_turns_within_the_budget() -> None:
    turns = [Turn(role="user" if i % 2 == 0 else "assistant", content=f"turn {i} " + "x" * 36) for i in range(6)]
    kept = fitting_history(turns, budget=35)  # each turn is ~12 estimated tokens
    assert [t.content.split(" x")[0] for t in kept] == ["turn 3", "turn 4", "turn 5"]
    assert fitting_history(turns, budget=5) == []


async def test_follow_up_retrieves_with_its_context_and_the_prompt_has_the_history() -> None:
    llm = ScriptedLLM([("Question: And how long does it last?", " 16 weeks [1]")])
    deps = ReasoningDeps(llm=llm, retriever=InMemoryRetriever(list(CHUNKS)))
    request = InteractionRequest(
        question="And how long does it last?",
        mode=Mode.rag,
        knowledge_bases=["handbook"],
        system="You answer for the HR team of Lumen Works.",
        history=HISTORY,
        session_id="s-1",
    )
    assert search_query(request) == "What is parental leave? And how long does it last?"
    response = await answer(request, deps)
    assert response.answer == "16 weeks" and [c.chunk_id for c in response.citations] == ["parental#0"]
    [retrieve] = [s for s in response.trace if s.step == "retrieve"]
    assert retrieve.detail["query"] == search_query(request)
    prompt = llm.calls[0].prompt
    assert prompt.startswith("You answer for the HR team of Lumen Works.\n\n")
    turns = "Question: What is parental leave?\nAnswer: Paid time off after a birth or adoption.\n\n<sources>"
    assert turns in prompt and prompt.endswith("Question: And how long does it last?\nAnswer:")
    # the response carries the conversation on, for curation to keep the whole exchange
    assert (response.session_id, response.system, response.history) == ("s-1", request.system, HISTORY)


async def test_direct_and_cot_prompts_carry_the_conversation() -> None:
    for mode in (Mode.direct, Mode.cot):
        llm = ScriptedLLM(default=" 16 weeks")
        request = InteractionRequest(question="And how long?", mode=mode, system="Be brief.", history=HISTORY)
        await answer(request, ReasoningDeps(llm=llm))
        prompt = llm.calls[0].prompt
        assert prompt.startswith("Be brief.\n\n") and "Question: What is parental leave?\nAnswer: Paid" in prompt
