"""Reading a model's completion: reasoning vs final answer, citations, and answer normalisation.

A 270M base model often ignores the requested format (no ``Answer:`` line, a repeated question, a trailing
half-sentence), so every parser here has a fallback and never raises.
"""

from __future__ import annotations

import re
import string

from pydantic import BaseModel, Field

_ANSWER_LINE = re.compile(r"^\s*(?:final\s+)?answer\s*[:：]\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_REASONING_PREFIX = re.compile(r"^\s*reasoning\s*[:：]\s*", re.IGNORECASE)
# Phrases a model uses to conclude when it drops the Answer line.
_CONCLUSION = re.compile(
    r"(?:so|thus|therefore|hence)?,?\s*the\s+(?:final\s+)?answer\s+is\s*[:：]?\s*(.+?)(?:[.\n]|$)", re.IGNORECASE
)
_TRAILING_SECTION = re.compile(r"\n\s*(?:question|task|reasoning|notes?|sources?)\s*[:：].*$", re.I | re.S)
_CITATION = re.compile(r"\[(\d{1,3})\]")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w])")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")


class ParsedAnswer(BaseModel):
    answer: str
    reasoning: list[str] = Field(default_factory=list)
    followed_format: bool = True


def _clean_answer(text: str) -> str:
    text = _TRAILING_SECTION.sub("", text)
    text = text.strip().splitlines()[0].strip() if text.strip() else ""
    return text.strip(" \"'")


def split_steps(reasoning: str) -> list[str]:
    """One reasoning step per line, or per sentence when the model wrote a single line."""
    lines = [ln.strip() for ln in reasoning.splitlines() if ln.strip()]
    if len(lines) == 1:
        lines = [s.strip() for s in _SENTENCE_SPLIT.split(lines[0]) if s.strip()]
    return lines


def parse_reasoned(text: str) -> ParsedAnswer:
    """Separates reasoning from the final answer in a CoT completion (the prompt ended with ``Reasoning:``)."""
    text = _TRAILING_SECTION.sub("", _REASONING_PREFIX.sub("", text.lstrip("\n"), count=1))
    matches = list(_ANSWER_LINE.finditer(text))
    if matches:
        last = matches[-1]
        reasoning = _REASONING_PREFIX.sub("", text[: last.start()]).strip()
        answer = _clean_answer(last.group(1))
        if answer:
            return ParsedAnswer(answer=answer, reasoning=split_steps(reasoning))
    # No usable Answer line: look for "the answer is X", else take the last step as the conclusion.
    body = _REASONING_PREFIX.sub("", text).strip()
    conclusion = _CONCLUSION.search(body)
    steps = split_steps(body)
    if conclusion and conclusion.group(1).strip():
        return ParsedAnswer(answer=_clean_answer(conclusion.group(1)), reasoning=steps, followed_format=False)
    if not steps:
        return ParsedAnswer(answer="", reasoning=[], followed_format=False)
    return ParsedAnswer(answer=steps[-1].rstrip("."), reasoning=steps[:-1], followed_format=False)


def answer_line(text: str) -> str:
    """The text of a CoT completion's last ``Answer:`` line so far ("" before the model has written one)."""
    matches = list(_ANSWER_LINE.finditer(text))
    return matches[-1].group(1).strip() if matches else ""


def parse_short_answer(text: str) -> ParsedAnswer:
    """A completion after a prompt ending in ``Answer:``; keeps the first line only."""
    answer = _clean_answer(text)
    return ParsedAnswer(answer=answer, reasoning=[], followed_format=bool(answer))


def cited_numbers(text: str, available: int) -> list[int]:
    """Source numbers cited as ``[n]``, in order of first use, only those that exist."""
    seen: list[int] = []
    for match in _CITATION.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= available and number not in seen:
            seen.append(number)
    return seen


def strip_citations(text: str) -> str:
    return re.sub(r"\s*\[\d{1,3}\]", "", text).strip()


def _normalise_number(match: re.Match[str]) -> str:
    whole = match.group(1).replace(",", "")
    fraction = (match.group(2) or "").rstrip("0")
    return f"{int(whole)}.{fraction}" if fraction else str(int(whole))


def normalise_answer(text: str) -> str:
    """Lower case, numbers in one form, no citations, articles, punctuation or extra spaces (SQuAD style)."""
    text = strip_citations(text).lower()
    text = _NUMBER.sub(_normalise_number, text)
    # Keep decimal points and times (3.5, 3:15) but drop other punctuation.
    text = re.sub(r"(?<!\d)[.:](?!\d)|(?<=\d)[.:](?!\d)|(?<!\d)[.:](?=\d)", " ", text)
    text = text.translate(str.maketrans({c: " " for c in string.punctuation if c not in ".:"}))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answers_match(predicted: str, gold: str) -> bool:
    """True when the normalised gold answer appears as whole words in the normalised prediction."""
    pred, want = normalise_answer(predicted), normalise_answer(gold)
    if not want or not pred:
        return False
    return re.search(rf"(?<![\w.]){re.escape(want)}(?![\w]|\.\d)", pred) is not None
