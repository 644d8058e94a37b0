"""Every import format on real-shaped files: what each record becomes, and malformed records skipped with a reason
while the rest of the file still imports."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kaizen.config import Settings
from kaizen.events import Thumbs
from kaizen.importing.events import to_events
from kaizen.importing.records import ImportFormat, ImportReport
from kaizen.importing.run import ImportFileError, build_events, import_file, parse_file
from kaizen.importing.shapes import score_feedback

DATA = Path(__file__).parent / "data" / "import"


def _dated() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def _by_question(fmt: ImportFormat, name: str) -> tuple[dict, list]:
    parsed = parse_file(DATA / name, fmt)
    first: dict = {}
    for item in parsed.interactions:
        first.setdefault(item.question, item)
    return first, parsed.skipped


def _reasons(skipped: list) -> dict[str, str]:
    return {s.where: s.reason for s in skipped}


def test_openai_chat_messages_feedback_and_malformed_lines() -> None:
    items, skipped = _by_question(ImportFormat.openai_chat, "chat.jsonl")
    kettle = items["How many days do I have to return a kettle?"]
    assert kettle.system == "You answer questions about Acme's return policy."
    assert kettle.answer == "You have 30 days to return a kettle."
    assert kettle.user_id == "u-17" and kettle.created_at is not None
    assert [f.thumbs for f in kettle.feedback] == [Thumbs.up]
    # A multi-turn chat: the last exchange is the interaction, the first its history; content parts are joined.
    norway = items["How long does it take?"]
    assert [t.content for t in norway.history] == ["Do you ship to Norway?", "Yes, we ship to Norway."]
    assert norway.answer == "About two weeks."
    assert norway.feedback[0].rating == 2
    assert norway.feedback[0].correction == "Delivery to Norway takes 5 to 7 working days."
    assert items["Who founded Acme?"].feedback == []  # kept: rated later, or a regression candidate
    reasons = _reasons(skipped)
    assert "does not end with an assistant message" in reasons["line 4"]
    assert "no messages" in reasons["line 5"]
    assert "bad rating 9" in reasons["line 6"]
    assert reasons["line 7"].startswith("not JSON")
    assert len(skipped) == 4  # the duplicate line 8 is parsed; it is dropped when the events are built


def test_within_file_duplicates_are_skipped_once_events_are_built() -> None:
    report = ImportReport(file="chat.jsonl", format=ImportFormat.openai_chat, tenant="acme")
    built = build_events(
        parse_file(DATA / "chat.jsonl", ImportFormat.openai_chat),
        report=report,
        dated=_dated(),
        max_text_chars=32_000,
    )
    assert len(built) == 3
    assert _reasons(report.skipped)["line 8"] == "duplicate: the same record as line 1"
    assert report.interactions == 3 and report.feedback == 2 and report.without_feedback == 1
    assert report.skip_reasons() == {"duplicate": 1, "invalid": 3, "not JSON": 1}


def test_jsonl_rows() -> None:
    items, skipped = _by_question(ImportFormat.jsonl, "logs.jsonl")
    assert items["What is the capital of France?"].feedback[0].thumbs == Thumbs.up
    assert items["What colour is the sky on a clear day?"].feedback[0].rating == 5
    spider = items["How many legs does a spider have?"].feedback[0]
    assert spider.thumbs == Thumbs.down and spider.correction == "A spider has eight legs."
    reasons = _reasons(skipped)
    assert "question" in reasons["line 4"] and "blank" in reasons["line 4"]
    assert "question: Field required" in reasons["line 5"]
    assert "bad thumbs 'sideways'" in reasons["line 6"]


def test_csv_rows() -> None:
    items, skipped = _by_question(ImportFormat.csv, "logs.csv")
    assert set(items) == {
        "What is the boiling point of water at sea level?",
        "Which planet is closest to the sun?",
        "How many continents are there?",
    }
    venus = items["Which planet is closest to the sun?"].feedback[0]
    assert venus.correction == "Mercury is the planet closest to the sun." and venus.comment == "wrong planet"
    assert items["How many continents are there?"].feedback[0].rating == 4
    reasons = _reasons(skipped)
    assert "answer" in reasons["row 5"]
    assert "more than the header" in reasons["row 6"]
    assert "bad rating 'seven'" in reasons["row 7"]


def test_csv_without_the_needed_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("prompt,completion\nhi,hello\n")
    parsed = parse_file(path, ImportFormat.csv)
    assert parsed.interactions == []
    assert "missing columns: answer, question" in parsed.skipped[0].reason


def test_langfuse_trace_download() -> None:
    items, skipped = _by_question(ImportFormat.langfuse, "langfuse-trace.json")
    (paypal,) = items.values()
    assert paypal.question == "Can I pay with PayPal?" and paypal.system == "You are Acme's support assistant."
    assert paypal.answer == "Yes, Acme accepts PayPal at checkout."
    assert paypal.key == "7f2c1e0a-9b1d-4a55-8c0e-2d3f4a5b6c7d" and paypal.session_id == "sess-42"
    assert [(f.thumbs, f.comment) for f in paypal.feedback] == [(Thumbs.up, "quick and right")]
    assert skipped == []


def test_langfuse_jsonl_observations_scores_and_bad_records() -> None:
    items, skipped = _by_question(ImportFormat.langfuse, "langfuse-traces.jsonl")
    # Empty trace input/output (Langfuse v4): the root observation's are used.
    phone = items["What is Acme's phone number?"]
    assert phone.answer == "Call Acme on 0800 123 456."
    assert [(f.correction, f.rating) for f in phone.feedback] == [
        ("Acme's phone number is 0800 654 321.", None),
        (None, 2),
    ]
    office = items["Where is Acme's head office?"]
    assert [f.labels for f in office.feedback] == [["correct"]]
    reasons = _reasons(skipped)
    assert "neither a thumb" in reasons["trace lf-3 score s-3b"]  # the score is lost, not the trace
    assert "no text in the input" in reasons["trace lf-4"]
    assert reasons["line 4"] == "not a trace: no id"


def test_langsmith_runs_and_feedback() -> None:
    items, skipped = _by_question(ImportFormat.langsmith, "langsmith.json")
    jacket = items["What sizes does the Acme rain jacket come in?"]
    assert jacket.answer == "The Acme rain jacket comes in sizes S to XXL."
    assert jacket.user_id == "ls-user-1" and jacket.session_id == "thread-7"
    # The feedback was given on the child llm run: it counts for the trace's root run.
    assert [f.thumbs for f in jacket.feedback] == [Thumbs.up]
    wash = items["Is the rain jacket machine washable?"]
    assert wash.answer == "Yes, wash it at 30 degrees."
    assert wash.feedback[0].correction == "No, the rain jacket must be hand washed."
    # A root chat-model run, logged the LangChain way (serialized messages in, generations out).
    colours = items["Which colours does the jacket come in?"]
    assert colours.system == "You sell rain jackets." and colours.answer == "Navy, olive and red."
    assert [f.thumbs for f in colours.feedback] == [Thumbs.up]
    assert len(items) == 3  # the child run is no interaction of its own
    reasons = _reasons(skipped)
    assert reasons["run 0f6c7a8e-1111-4c2b-9a00-000000000004"].startswith("failed run: RateLimitError")
    assert reasons["feedback fb000000-0000-4000-8000-000000000003"].startswith("unknown run")


@pytest.mark.parametrize(
    ("value", "thumbs", "rating", "labels"),
    [
        (True, Thumbs.up, None, []),
        (0, Thumbs.down, None, []),
        (4, None, 4, []),
        (0.8, Thumbs.up, None, []),
        (0.2, Thumbs.down, None, []),
        ("down", Thumbs.down, None, []),
        ("hallucination", None, None, ["hallucination"]),
    ],
)
def test_scores_read_as_feedback(value: object, thumbs: Thumbs | None, rating: int | None, labels: list) -> None:
    fb = score_feedback("k", "helpful", value)
    assert (fb.thumbs, fb.rating, fb.labels) == (thumbs, rating, labels)


def test_ids_are_fixed_by_the_record_and_the_tenant() -> None:
    (item,) = parse_file(DATA / "langfuse-trace.json", ImportFormat.langfuse).interactions
    first = to_events(item, tenant="acme", fmt=ImportFormat.langfuse, dated=_dated())
    again = to_events(item, tenant="acme", fmt=ImportFormat.langfuse, dated=_dated())
    assert first == again  # every field, timestamps included: a re-import is byte-identical
    assert first.response.response_id == first.response.response_id_for(first.request.event_id)
    assert first.feedback[0].response_id == first.response.response_id
    other = to_events(item, tenant="globex", fmt=ImportFormat.langfuse, dated=_dated())
    assert other.request.event_id != first.request.event_id


def test_records_without_a_time_are_dated_by_the_file(tmp_path: Path) -> None:
    path = tmp_path / "logs.jsonl"
    shutil.copy(DATA / "logs.jsonl", path)
    os.utime(path, (1_760_000_000, 1_760_000_000))
    report = import_file(_settings(tmp_path), path, ImportFormat.jsonl, tenant="acme", dry_run=True)
    assert report.dry_run and report.interactions == 3
    built = build_events(
        parse_file(path, ImportFormat.jsonl),
        report=ImportReport(file=str(path), format=ImportFormat.jsonl, tenant="acme"),
        dated=_dated(),
        max_text_chars=32_000,
    )
    sky = next(e for e in built if e.request.question.startswith("What colour"))
    assert sky.response.created_at == _dated() and sky.feedback[0].created_at == _dated()


def test_too_long_texts_are_skipped_not_dead_lettered(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_text('{"question": "Why?", "answer": "' + "x" * 500 + '", "thumbs": "up"}\n')
    report = ImportReport(file=str(path), format=ImportFormat.jsonl, tenant="acme")
    assert build_events(parse_file(path, ImportFormat.jsonl), report=report, dated=_dated(), max_text_chars=100) == []
    assert "the answer has 500 characters" in report.skipped[0].reason


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        parse_file(tmp_path / "missing.jsonl", ImportFormat.jsonl)
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ImportFileError, match="not UTF-8"):
        parse_file(binary, ImportFormat.jsonl)
