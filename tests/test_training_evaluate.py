"""Which exams an example sits: closed-book always, open-book only where its documents hold the answer."""

from __future__ import annotations

from kaizen.training.data import TrainingExample
from kaizen.training.evaluate import _exams, score
from kaizen.training.prompting import Source

DOCS = [Source(number=1, title="Fleet", text="The Stoat S6 costs $47,150."), Source(number=2, title="HR", text="x")]


def _example(kind: str, **extra: object) -> TrainingExample:
    return TrainingExample(
        example_id=f"{kind}-{len(extra)}", kind=kind, question="Stoat S6 price?", reference="$47,150", **extra
    )


def test_open_book_only_where_the_answer_is_in_the_documents() -> None:
    instruction = _example("instruction")
    with_oracle = _example("raft", sources=DOCS, oracle_numbers=[1])
    without_oracle = _example("raft", sources=DOCS[1:], oracle_numbers=[], oracle_texts=[])
    exams = [(ex.example_id, mode) for ex, mode in _exams([instruction, with_oracle, without_oracle])]
    assert exams == [
        (instruction.example_id, "closed_book"),
        (with_oracle.example_id, "closed_book"),
        (without_oracle.example_id, "closed_book"),
        (with_oracle.example_id, "open_book"),
    ]


def test_open_book_raft_answers_must_cite_an_oracle() -> None:
    ex = _example("raft", sources=DOCS, oracle_numbers=[1])
    assert score(" $47,150 [1]\n\n", ex, "open_book")["citation"] == 1.0
    wrong = score(" $47,150 [2]\n\n", ex, "open_book")
    assert wrong["citation"] == 0.0 and wrong["exact_match"] == 1.0
    assert "citation" not in score(" $47,150\n\n", ex, "closed_book")
