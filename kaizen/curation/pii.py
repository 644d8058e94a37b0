"""PII scrubbing: personal data and secrets are replaced by typed placeholders (``[EMAIL]``, ``[PHONE]``...)
before any text is stored, and the replacements are counted per type."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from kaizen.curation.pii_detectors import (
    Detector,
    PiiType,
    Span,
    find_cards,
    find_emails,
    find_ibans,
    find_ips,
    find_national_ids,
    find_secrets,
    phone_detector,
)

__all__ = ["PiiConfig", "PiiScrubber", "PiiType", "ScrubResult", "add_counts"]


class PiiConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    types: frozenset[PiiType] = Field(default_factory=lambda: frozenset(PiiType))
    phone_regions: tuple[str, ...] = Field(
        ("US", "GB", "DE", "FR"),
        description="Regions whose national phone formats are recognised; +<country> numbers always are. "
        "Each region adds false positives (China's national format matches many plain numbers).",
    )


class ScrubResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    counts: dict[str, int] = Field(default_factory=dict)

    @property
    def found(self) -> int:
        return sum(self.counts.values())


def add_counts(*counts: dict[str, int]) -> dict[str, int]:
    non_empty = [c for c in counts if c]
    if len(non_empty) <= 1:  # the common case: no PII at all, or from one place only
        return dict(sorted(non_empty[0].items())) if non_empty else {}
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return dict(sorted(total.items()))


# Priority when spans overlap: a secret containing digits is not a phone number, an IBAN is not a card, a
# Chinese resident id (18 digits) is not a card number.
_ORDER = list(PiiType)


class PiiScrubber:
    def __init__(self, config: PiiConfig | None = None) -> None:
        self.config = config or PiiConfig()
        detectors: dict[PiiType, Detector] = {
            PiiType.secret: find_secrets,
            PiiType.email: find_emails,
            PiiType.iban: find_ibans,
            PiiType.national_id: find_national_ids,
            PiiType.card: find_cards,
            PiiType.ip: find_ips,
            PiiType.phone: phone_detector(self.config.phone_regions),
        }
        self._detectors = [(t, detectors[t]) for t in _ORDER if t in self.config.types]

    def spans(self, text: str) -> list[Span]:
        """Non-overlapping spans to replace, earlier detectors winning overlaps."""
        taken: list[Span] = []
        for _, detect in self._detectors:
            for span in sorted(detect(text), key=lambda s: (s.start, -(s.end - s.start))):
                if not any(span.start < t.end and t.start < span.end for t in taken):
                    taken.append(span)
        return sorted(taken)

    def scrub(self, text: str) -> ScrubResult:
        if not text:
            return ScrubResult(text=text)
        spans = self.spans(text)
        if not spans:
            return ScrubResult(text=text)
        parts: list[str] = []
        cursor = 0
        for span in spans:
            parts.append(text[cursor : span.start])
            parts.append(span.kind.placeholder)
            cursor = span.end
        parts.append(text[cursor:])
        counts = Counter(span.kind.value for span in spans)
        return ScrubResult(text="".join(parts), counts=dict(sorted(counts.items())))

    def scrub_many(self, texts: Iterable[str]) -> tuple[list[str], dict[str, int]]:
        results = [self.scrub(t) for t in texts]
        return [r.text for r in results], add_counts(*(r.counts for r in results))
