"""Answer scoring: exact match, token F1, answer-contained (SQuAD-style normalisation), and RAFT citations."""

from __future__ import annotations

import re
import string
from collections import Counter

from kaizen.training.data import ANSWER_MARK, QUOTE_CLOSE, QUOTE_OPEN

_ARTICLES = re.compile(r"\b(a|an|the)\b")
# Joining marks become spaces, not nothing: "12-month" must still be found in "12 months" (deleting the hyphen,
# as SQuAD does for exact match, would make it "12month").
_JOINERS = "-/–—"
_PUNCT = str.maketrans(_JOINERS, " " * len(_JOINERS), "".join(c for c in string.punctuation if c not in _JOINERS))
_QUOTE = re.compile(re.escape(QUOTE_OPEN) + r"(.*?)" + re.escape(QUOTE_CLOSE), re.DOTALL)


def normalize(text: str) -> str:
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def final_answer(text: str) -> str:
    """The part after RAFT's answer marker when there is one, else the whole text."""
    if ANSWER_MARK in text:
        return text.rsplit(ANSWER_MARK, 1)[1].strip()
    return text.strip()


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(final_answer(prediction)) == normalize(reference))


def token_f1(prediction: str, reference: str) -> float:
    pred = normalize(final_answer(prediction)).split()
    ref = normalize(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, reference: str) -> float:
    ref = normalize(reference)
    return float(bool(ref) and ref in normalize(prediction))


def quotes(text: str) -> list[str]:
    return [q.strip() for q in _QUOTE.findall(text) if q.strip()]


def cites_oracle(prediction: str, oracle_texts: list[str]) -> float:
    """1 when the answer quotes (##begin_quote##...##end_quote##) a passage that is really in an oracle document."""
    oracles = [normalize(t) for t in oracle_texts]
    for quote in quotes(prediction):
        q = normalize(quote)
        if q and any(q in oracle for oracle in oracles):
            return 1.0
    return 0.0
