"""The demo's sample domain: Quillmoor Robotics, a fictional company no base model can know.

The documents (handbook, products, policies) and the questions about them ship as package data in
``kaizen/data/demo/``. Every answer is stated literally in the document named by the question, so a response can be
scored by whether it contains the answer. Held-out questions are never trained on; about two thirds of them ask
about a fact that a stream question also asks about, phrased differently, so closed-book training on the stream can
generalise to them; the rest are answerable only from the documents (open-book).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

KnowledgeBaseName = Literal["handbook", "products", "policies"]
Split = Literal["stream", "heldout"]
QuestionKind = Literal["lookup", "multi_hop", "arithmetic"]

KNOWLEDGE_BASES: tuple[KnowledgeBaseName, ...] = ("handbook", "products", "policies")
_DATA = "data/demo"
M = TypeVar("M", bound=BaseModel)


class DemoDataError(ValueError):
    """A line of the packaged demo data is not valid."""


class DemoDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    document_id: str = Field(min_length=1)
    knowledge_base: KnowledgeBaseName
    title: str = Field(min_length=1)
    text: str = Field(min_length=1, description="Markdown.")


class DemoQuestion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    question_id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1, description="Short; stated literally in the answering document.")
    document_id: str = Field(description="The document that states the answer.")
    knowledge_base: KnowledgeBaseName
    split: Split
    kind: QuestionKind = "lookup"
    fact_id: str = Field(
        description="<document_id>#<n>; questions sharing it ask about the same fact in different words."
    )
    supporting_document_ids: list[str] = Field(
        default_factory=list, description="Other documents a multi-hop question needs before the answering one."
    )


def _read_lines(name: str) -> Iterator[tuple[int, str]]:
    text = files("kaizen").joinpath(f"{_DATA}/{name}").read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def _load(name: str, model: type[M]) -> tuple[M, ...]:
    items = []
    for number, line in _read_lines(name):
        try:
            items.append(model.model_validate_json(line))
        except ValidationError as exc:
            raise DemoDataError(f"{name} line {number}: {exc}") from exc
    return tuple(items)


@cache
def _documents() -> tuple[DemoDocument, ...]:
    return _load("documents.jsonl", DemoDocument)


@cache
def _questions() -> tuple[DemoQuestion, ...]:
    return _load("questions.jsonl", DemoQuestion)


def load_documents(knowledge_base: KnowledgeBaseName | None = None) -> list[DemoDocument]:
    """The sample documents, optionally of one knowledge base, in a stable order."""
    return [d for d in _documents() if knowledge_base is None or d.knowledge_base == knowledge_base]


def load_questions(split: Split | None = None) -> list[DemoQuestion]:
    """The sample questions, optionally of one split, in a stable (shuffled once, at generation) order."""
    return [q for q in _questions() if split is None or q.split == split]


def documents_by_id() -> dict[str, DemoDocument]:
    return {d.document_id: d for d in _documents()}
