"""The answer streamed while it is decoded: the pieces join to the final answer, parsed as the strategy parses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaizen.events import InteractionRequest, Mode, RequestOptions
from kaizen.reasoning import ExemplarPool, ReasoningDeps, answer
from kaizen.reasoning.stream import AnswerStream
from kaizen.reasoning.testing import InMemoryRetriever, ScriptedLLM, chunk, hashing_embed

CHUNKS = [
    chunk("policy-leave#0", "Every full-time employee gets 27 days of annual leave.", title="Leave"),
    chunk("team-falcon#0", "Team Falcon is managed by Ada Brook, who joined in 2016.", title="Team Falcon"),
]


async def streamed(
    llm: ScriptedLLM, mode: Mode, question: str, tmp_path: Path, **options: object
) -> tuple[str, list[str]]:
    deps = ReasoningDeps(
        llm=llm, retriever=InMemoryRetriever(list(CHUNKS)), exemplars=ExemplarPool(hashing_embed, store_dir=tmp_path)
    )
    request = InteractionRequest(
        question=question, mode=mode, knowledge_bases=["handbook"], options=RequestOptions(**options)
    )
    pieces: list[str] = []
    response = await answer(request, deps, on_delta=pieces.append)
    assert response.error is None
    return response.answer, pieces


async def test_direct_streams_its_answer_in_pieces(tmp_path: Path) -> None:
    llm = ScriptedLLM([("Question: Who manages", ' "Ada Brook of Team Falcon"\nQuestion: next')])
    final, pieces = await streamed(llm, Mode.direct, "Who manages Team Falcon?", tmp_path)
    assert final == "Ada Brook of Team Falcon"
    assert len(pieces) > 1 and "".join(pieces) == final


async def test_rag_streams_without_citation_marks(tmp_path: Path) -> None:
    llm = ScriptedLLM([("Question: How many days", " 27 days [1] a year [2]")])
    final, pieces = await streamed(llm, Mode.rag, "How many days of annual leave?", tmp_path)
    assert final == "27 days a year"
    assert "".join(pieces) == final and not any("[" in p for p in pieces)


async def test_cot_streams_the_answer_line_not_the_reasoning(tmp_path: Path) -> None:
    llm = ScriptedLLM([("Question: Ann has", " 30 minus 12 is 18.\nAnswer: 18 days left")])
    final, pieces = await streamed(llm, Mode.cot, "Ann has 30 days and used 12. How many are left?", tmp_path)
    assert final == "18 days left" and "".join(pieces) == final
    assert pieces[0] == "18"  # nothing of the reasoning went out first


@pytest.mark.parametrize("mode", [Mode.chain, Mode.agent])
async def test_multi_step_strategies_send_the_answer_once_at_the_end(mode: Mode, tmp_path: Path) -> None:
    llm = ScriptedLLM([("Question: Who manages", " Ada Brook [1]")], default=" Ada Brook")
    final, pieces = await streamed(llm, mode, "Who manages Team Falcon?", tmp_path, max_rounds=2)
    assert pieces == [final] and final


def test_a_stream_that_went_another_way_sends_nothing_more() -> None:
    sent: list[str] = []
    stream = AnswerStream(sent.append)
    stream.feed(" Paris [", lambda raw: raw.strip())
    assert sent == ["Paris"]  # the unfinished citation mark is held back
    stream.finish("Lyon")
    assert sent == ["Paris"]
    stream.finish("Paris, France")
    assert sent == ["Paris", ", France"]
