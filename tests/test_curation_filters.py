"""Quality filters, language guess and deduplication."""

from __future__ import annotations

import pytest

from kaizen.curation.dedup import DedupConfig, Deduplicator, Duplicate, exact_hash, normalise
from kaizen.curation.filters import FilterConfig, QualityFilter, RejectReason
from kaizen.curation.language import guess_language, languages_differ

Q = "What is the capital of France?"


@pytest.fixture(scope="module")
def quality() -> QualityFilter:
    return QualityFilter(FilterConfig(min_answer_chars=2, max_answer_chars=200))


@pytest.mark.parametrize(
    ("question", "answer", "reason"),
    [
        (Q, "", RejectReason.empty),
        (Q, "   \n", RejectReason.empty),
        (Q, "P", RejectReason.too_short),
        (Q, "Paris. " * 40, RejectReason.too_long),
        (Q, "I'm sorry, but I can't help with that.", RejectReason.refusal),
        (Q, "As an AI language model, I do not have opinions.", RejectReason.refusal),
        (Q, "I don't know.", RejectReason.refusal),
        (Q, "Unfortunately, I couldn't find that in the documents.", RejectReason.refusal),
        (Q, "what is the capital of France", RejectReason.echo),
        (Q, "What is the capital of France?!", RejectReason.echo),
        (Q, "The capital of France is what?", RejectReason.echo),
        (Q, "Die Hauptstadt von Frankreich ist Paris und das ist nicht neu.", RejectReason.language),
        (Q, "法国的首都是巴黎，这是一个很大的城市。", RejectReason.language),
        (
            "Was ist die Hauptstadt von Frankreich?",
            "The capital of France is Paris, and it is large.",
            RejectReason.language,
        ),
    ],
)
def test_rejections_have_their_reason(quality: QualityFilter, question: str, answer: str, reason: RejectReason) -> None:
    assert quality.check(question, answer) == reason


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        (Q, "Paris"),
        (Q, "The capital of France is Paris."),
        (Q, "Paris. I cannot stress enough how lovely it is."),  # "cannot" later on is not a refusal
        ("Was ist die Hauptstadt von Frankreich?", "Die Hauptstadt von Frankreich ist Paris."),
        ("Was ist die Hauptstadt von Frankreich?", "Paris"),  # too little text to call a language: abstain
        ("法国的首都是哪里？", "法国的首都是巴黎。"),
        ("How do I install it?", "Run pip install kaizen and then kaizen up."),
    ],
)
def test_good_answers_pass(quality: QualityFilter, question: str, answer: str) -> None:
    assert quality.check(question, answer) is None


def test_language_guess() -> None:
    assert guess_language("The cat is on the mat and it is happy.") == "en"
    assert guess_language("Le chat est sur le tapis et il est content.") == "fr"
    assert guess_language("El gato está en la alfombra y es feliz con los niños.") == "es"
    assert guess_language("Кошка сидит на ковре и очень довольна.") == "CYRILLIC"
    assert guess_language("猫はマットの上に座っています。") == "JAPANESE"
    assert guess_language("ok") is None
    assert not languages_differ("ok?", "Le chat est sur le tapis et il est content.")


def test_filter_config_lists_applied_filters() -> None:
    assert FilterConfig().applied == ["empty", "length", "refusal", "echo", "language"]
    assert "language" not in FilterConfig(check_language=False).applied


def test_normalised_exact_hash() -> None:
    assert normalise("  Hello,   WORLD!! ") == "hello world"
    assert exact_hash("Hello, world") == exact_hash("hello world!")
    assert exact_hash("hello world") != exact_hash("hello there world")


LONG = (
    "Kaizen turns user feedback into instruction examples and retrieval augmented fine tuning data, "
    "then trains a new adapter, evaluates it against the current one and promotes it only when it wins."
)


def test_dedup_exact_near_and_tenants() -> None:
    dedup = Deduplicator(DedupConfig(near_threshold=0.7))
    assert dedup.check("a", "1", LONG).duplicate is None
    exact = dedup.check("a", "2", LONG.upper() + " ")
    assert exact.duplicate == Duplicate.exact and exact.of == "1"
    near = dedup.check("a", "3", LONG.replace("promotes it only", "promotes it"))
    assert near.duplicate == Duplicate.near and near.of == "1"
    # Another tenant's identical text is not a duplicate: tenants never share data.
    assert dedup.check("b", "4", LONG).duplicate is None
    different = "The gateway authenticates every request with a bearer token and routes it to the right tenant."
    assert dedup.check("a", "5", different).duplicate is None


def test_dedup_near_can_be_switched_off() -> None:
    dedup = Deduplicator(DedupConfig(near=False))
    dedup.check("a", "1", LONG)
    assert dedup.check("a", "2", LONG.replace("promotes it only", "promotes it")).duplicate is None
