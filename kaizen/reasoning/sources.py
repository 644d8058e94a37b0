"""Retrieved chunks as numbered, quoted data in a prompt, and the citations an answer makes to them."""

from __future__ import annotations

import re

from pydantic import BaseModel

from kaizen.events import Citation
from kaizen.reasoning.parsing import cited_numbers, normalise_answer
from kaizen.retrieval.types import SearchHit

# Anything that could close the data block or start a new prompt section is neutralised: a chunk is one line of
# data, so "Question:" or "</sources>" inside a document can never become part of the prompt's structure.
_DELIMITERS = re.compile(r"</?\s*(?:sources?|notes?)\s*>", re.IGNORECASE)
_SECTION_WORDS = re.compile(
    r"\b(question|answer|task|reasoning|verdict|search|calculate|result|plan|reviewer)\s*:", re.IGNORECASE
)


class NumberedSource(BaseModel):
    number: int
    chunk_id: str
    document_id: str
    knowledge_base: str
    title: str
    text: str
    score: float


def quote_as_data(text: str, max_chars: int) -> str:
    text = _DELIMITERS.sub(" ", text)
    text = _SECTION_WORDS.sub(lambda m: f"{m.group(1)} -", text)
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def number_sources(hits: list[SearchHit], max_chars: int) -> list[NumberedSource]:
    sources = []
    for number, hit in enumerate(hits, start=1):
        chunk = hit.chunk
        title = " - ".join(part for part in (chunk.title, chunk.heading) if part) or chunk.document_id
        sources.append(
            NumberedSource(
                number=number,
                chunk_id=chunk.chunk_id,
                document_id=chunk.document_id,
                knowledge_base=chunk.knowledge_base,
                title=quote_as_data(title, 200),
                text=quote_as_data(chunk.text, max_chars),
                score=hit.score,
            )
        )
    return sources


def _citation(source: NumberedSource) -> Citation:
    return Citation(
        document_id=source.document_id,
        chunk_id=source.chunk_id,
        knowledge_base=source.knowledge_base,
        title=source.title,
        quote=source.text,
        score=source.score,
    )


def cite(answer_text: str, sources: list[NumberedSource]) -> tuple[list[Citation], str]:
    """Citations for an answer and how they were found.

    ``explicit``: the model wrote ``[n]``. ``answer_match``: it cited nothing, but the answer appears word for word
    in a source, which is then the evidence. ``none``: neither.
    """
    numbers = cited_numbers(answer_text, len(sources))
    if numbers:
        return [_citation(sources[n - 1]) for n in numbers], "explicit"
    wanted = normalise_answer(answer_text)
    if wanted and wanted != "unknown":
        matched = [s for s in sources if f" {wanted} " in f" {normalise_answer(s.text)} "]
        if matched:
            return [_citation(matched[0])], "answer_match"
    return [], "none"
