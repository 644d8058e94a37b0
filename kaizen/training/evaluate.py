"""Evaluation: closed-book and open-book answers on a set of examples, scored by every metric."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import fmean
from typing import Literal

from pydantic import BaseModel, Field

from kaizen.llm.model import LoadedModel
from kaizen.training import metrics as m
from kaizen.training.answer_cache import AnswerCache, answer_all
from kaizen.training.data import TrainingExample
from kaizen.training.generation import generate_answers
from kaizen.training.prompting import parse_answer

ExamMode = Literal["closed_book", "open_book"]
SCORES = ("exact_match", "token_f1", "contains")


class Prediction(BaseModel):
    example_id: str
    mode: ExamMode
    question: str
    reference: str
    answer: str
    scores: dict[str, float]


class EvalReport(BaseModel):
    predictions: list[Prediction] = Field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float]:
        """Pooled scores (every example in every mode it has), per-mode scores, citation accuracy and counts."""
        out: dict[str, float] = {"n": float(len(self.predictions))}
        if not self.predictions:
            return out
        for score in SCORES:
            out[score] = fmean(p.scores[score] for p in self.predictions)
        for mode in ("closed_book", "open_book"):
            rows = [p for p in self.predictions if p.mode == mode]
            out[f"{mode}.n"] = float(len(rows))
            for score in SCORES:
                if rows:
                    out[f"{mode}.{score}"] = fmean(p.scores[score] for p in rows)
        cited = [p.scores["citation"] for p in self.predictions if "citation" in p.scores]
        if cited:
            out["citation_accuracy"] = fmean(cited)
        return out


def _exams(examples: Sequence[TrainingExample]) -> list[tuple[TrainingExample, ExamMode]]:
    """Every example closed-book; those whose documents hold the answer also open-book.

    A RAFT example left without its oracle (probability 1-P) trains answering from memory; as an open-book exam
    it would only repeat the closed-book one with distractors to read.
    """
    exams: list[tuple[TrainingExample, ExamMode]] = [(ex, "closed_book") for ex in examples]
    exams += [(ex, "open_book") for ex in examples if ex.open_book and (ex.kind != "raft" or ex.oracle_numbers)]
    return exams


def score(completion: str, example: TrainingExample, mode: ExamMode) -> dict[str, float]:
    """Scores of the answer as serving would read it; open-book RAFT answers must also cite an oracle source."""
    answer, cited = parse_answer(completion)
    scores = {
        "exact_match": m.exact_match(answer, example.reference),
        "token_f1": m.token_f1(answer, example.reference),
        "contains": m.contains_answer(answer, example.reference),
    }
    if mode == "open_book" and example.kind == "raft" and example.oracle_numbers:
        scores["citation"] = float(any(n in example.oracle_numbers for n in cited))
    return scores


def evaluate(
    lm: LoadedModel,
    examples: Sequence[TrainingExample],
    *,
    adapter_dir: Path | None = None,
    max_new_tokens: int = 48,
    batch_size: int = 8,
    cache: AnswerCache | None = None,
) -> EvalReport:
    """Score ``examples`` answered by ``lm`` with the saved adapter in ``adapter_dir`` (None: the model as it is)."""

    def generate(prompts: list[str]) -> list[str]:
        return generate_answers(
            lm, prompts, adapter_dir=adapter_dir, max_new_tokens=max_new_tokens, batch_size=batch_size
        )

    return evaluate_with(generate, examples, max_new_tokens=max_new_tokens, cache=cache)


def evaluate_with(
    generate: Callable[[list[str]], list[str]],
    examples: Sequence[TrainingExample],
    *,
    max_new_tokens: int,
    cache: AnswerCache | None = None,
) -> EvalReport:
    """Score ``examples`` with answers from ``generate`` (called only for prompts ``cache`` does not hold)."""
    exams = _exams(examples)
    prompts = [ex.prompt(open_book=mode == "open_book") for ex, mode in exams]
    answers = answer_all(prompts, generate, cache, max_new_tokens)
    return EvalReport(
        predictions=[
            Prediction(
                example_id=ex.example_id,
                mode=mode,
                question=ex.question,
                reference=ex.reference,
                answer=answer,
                scores=score(answer, ex, mode),
            )
            for (ex, mode), answer in zip(exams, answers, strict=True)
        ]
    )
