"""Examples rendered exactly as the serving strategies prompt the model.

An adapter learns the format it is trained on: if training used the chat template while serving used the few-shot
``direct`` and ``rag`` templates, the adapter would never fire in production. So training, evaluation and serving
share one prompt library, and the targets end the way the templates' own examples end (a blank line).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from pydantic import BaseModel

from kaizen.events import Turn
from kaizen.reasoning.conversation import HISTORY_MAX_TOKENS, conversation_variables
from kaizen.reasoning.parsing import cited_numbers, parse_short_answer, strip_citations
from kaizen.reasoning.prompts import PromptLibrary
from kaizen.reasoning.sources import quote_as_data
from kaizen.reasoning.text import STOP_AFTER_LINE, one_line

ANSWER_END = "\n\n"


class Source(BaseModel):
    """A document as the ``rag`` template shows it: numbered, titled, quoted as data."""

    number: int
    title: str
    text: str


@cache
def library() -> PromptLibrary:
    return PromptLibrary()


def closed_book_prompt(question: str, *, system: str | None = None, history: Sequence[Turn] = ()) -> str:
    conversation = conversation_variables(system, list(history), HISTORY_MAX_TOKENS)
    return library().render("direct", question=one_line(question), **conversation).text


def open_book_prompt(question: str, sources: list[Source]) -> str:
    return library().render("rag", question=one_line(question), sources=sources).text


def as_source(number: int, title: str, text: str, max_chars: int) -> Source:
    return Source(number=number, title=quote_as_data(title, 200), text=quote_as_data(text, max_chars))


def answer_target(answer: str, citations: list[int] | None = None) -> str:
    cited = "".join(f" [{n}]" for n in citations or [])
    return f" {one_line(answer)}{cited}{ANSWER_END}"


def cut_at_stop(text: str) -> str:
    """The completion up to where serving would stop generating."""
    for marker in STOP_AFTER_LINE:
        text = text.split(marker, 1)[0]
    return text


def parse_answer(completion: str) -> tuple[str, list[int]]:
    """(the answer without citation marks, the source numbers it cites), as the rag strategy reads it."""
    raw = parse_short_answer(cut_at_stop(completion)).answer
    return strip_citations(raw), cited_numbers(raw, 99)
