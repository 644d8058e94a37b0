"""Quality filters: an answer that would teach the model nothing (or the wrong thing) is rejected with a reason."""

from __future__ import annotations

import re
from collections import Counter
from difflib import SequenceMatcher
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from kaizen.curation.dedup import normalise
from kaizen.curation.language import differ, languages_differ


class RejectReason(StrEnum):
    empty = "empty_answer"
    too_short = "too_short"
    too_long = "too_long"
    refusal = "refusal"
    echo = "echoes_question"
    language = "language_mismatch"


DEFAULT_REFUSALS = (
    r"i(?:'m| am) sorry,? but i (?:can(?:not|'t)|am unable|won't)",
    r"i (?:can(?:not|'t)|am unable to|won't) (?:help|assist|answer|provide|comply|do that)",
    r"as an ai(?: language model)?,? i",
    r"i(?:'m| am) (?:not able|unable) to (?:help|assist|answer|provide)",
    r"i (?:do not|don't) know(?: the answer)?[.!]?$",
    r"i (?:do not|don't) have (?:enough )?information",
    r"(?:sorry|unfortunately),? i (?:can(?:not|'t)|could not|couldn't) (?:find|help|answer)",
)


class FilterConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    min_answer_chars: int = Field(2, ge=1)
    min_answer_words: int = Field(1, ge=1)
    max_answer_chars: int = Field(8_000, ge=1)
    refusal_patterns: tuple[str, ...] = DEFAULT_REFUSALS
    refusal_window: int = Field(160, ge=1, description="Refusals are looked for at the start of the answer.")
    echo_similarity: float = Field(0.9, gt=0.0, le=1.0)
    check_language: bool = True

    @property
    def applied(self) -> list[str]:
        """Names of the filters in force, for the dataset manifest."""
        names = ["empty", "length", "refusal", "echo"]
        return names + (["language"] if self.check_language else [])


class QualityFilter:
    def __init__(self, config: FilterConfig | None = None) -> None:
        self.config = config or FilterConfig()
        # Matched against lower-cased text: case-insensitive matching of a long alternation is several times slower.
        self._refusal = re.compile("|".join(f"(?:{p})" for p in self.config.refusal_patterns), re.M)

    def check(
        self, question: str, answer: str, *, languages: tuple[str | None, str | None] | None = None
    ) -> RejectReason | None:
        """The reason to reject the pair, or None if it passes every filter.

        ``languages``: the (question, answer) languages when already known, which saves guessing them again.
        """
        c = self.config
        stripped = answer.strip()
        if not stripped:
            return RejectReason.empty
        if len(stripped) < c.min_answer_chars or len(stripped.split()) < c.min_answer_words:
            return RejectReason.too_short
        if len(stripped) > c.max_answer_chars:
            return RejectReason.too_long
        if self._refusal.search(stripped[: c.refusal_window].lower().replace("’", "'")):
            return RejectReason.refusal
        if self._echoes(question, stripped):
            return RejectReason.echo
        if c.check_language:
            differs = differ(*languages) if languages is not None else languages_differ(question, stripped)
            if differs:
                return RejectReason.language
        return None

    def _echoes(self, question: str, answer: str) -> bool:
        # Normalising can only shorten a text a little: far longer or shorter answers are no echo.
        if not 0.5 <= len(answer) / max(len(question), 1) <= 2.0:
            return False
        q, a = normalise(question), normalise(answer)
        if not q or not a:
            return False
        if a == q:
            return True
        # Only an answer about as long as the question can be an echo of it; skip the costly ratio otherwise.
        if not 0.7 <= len(a) / len(q) <= 1.4:
            return False
        if Counter(a.split()) == Counter(q.split()):
            return True
        return SequenceMatcher(None, q, a, autojunk=False).ratio() >= self.config.echo_similarity


class RejectionCounts(BaseModel):
    counts: dict[str, int] = Field(default_factory=dict)

    def add(self, reason: str, n: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + n
