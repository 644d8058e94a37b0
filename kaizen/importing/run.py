"""``kaizen import``: parse a file, turn its records into events, publish them through the validating producer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from kaizen.config import Settings
from kaizen.events import now
from kaizen.importing.events import ImportedEvents, to_events
from kaizen.importing.flat import parse_csv, parse_jsonl
from kaizen.importing.langfuse import parse_langfuse
from kaizen.importing.langsmith import parse_langsmith
from kaizen.importing.openai_chat import parse_openai_chat
from kaizen.importing.records import ImportFormat, ImportReport, Parsed, SkippedRecord
from kaizen.importing.shapes import describe
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics

PARSERS: dict[ImportFormat, Callable[[Path], Parsed]] = {
    ImportFormat.openai_chat: parse_openai_chat,
    ImportFormat.jsonl: parse_jsonl,
    ImportFormat.csv: parse_csv,
    ImportFormat.langfuse: parse_langfuse,
    ImportFormat.langsmith: parse_langsmith,
}


class ImportFileError(ValueError):
    """The file itself cannot be read (missing, not text): nothing was imported."""


def parse_file(path: Path, fmt: ImportFormat) -> Parsed:
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    try:
        return PARSERS[fmt](path)
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def file_date(path: Path) -> datetime:
    """The date of records that carry none: the file's modification time, the same on every import of it."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _too_long(events: ImportedEvents, limit: int) -> str | None:
    texts = {"question": events.request.question, "answer": events.response.answer}
    texts |= {f"correction {i}": fb.correction or "" for i, fb in enumerate(events.feedback)}
    for name, text in texts.items():
        if len(text) > limit:
            return f"too long: the {name} has {len(text)} characters, more than max_text_chars={limit}"
    return None


def build_events(parsed: Parsed, *, report: ImportReport, dated: datetime, max_text_chars: int) -> list[ImportedEvents]:
    """Events for every valid interaction, in file order; everything else goes to the report's skipped list."""
    report.skipped.extend(parsed.skipped)
    seen: dict[str, str] = {}
    built: list[ImportedEvents] = []
    for item in parsed.interactions:
        if item.key in seen:
            duplicate = f"duplicate: the same record as {seen[item.key]}"
            report.skipped.append(SkippedRecord(where=item.where, reason=duplicate))
            continue
        seen[item.key] = item.where
        try:
            events = to_events(item, tenant=report.tenant, fmt=report.format, dated=dated)
        except ValidationError as exc:
            report.skipped.append(SkippedRecord(where=item.where, reason=f"invalid: {describe(exc)}"))
            continue
        problem = _too_long(events, max_text_chars)
        if problem:
            report.skipped.append(SkippedRecord(where=item.where, reason=problem))
            continue
        built.append(events)
    report.interactions = len(built)
    report.feedback = sum(len(e.feedback) for e in built)
    report.without_feedback = sum(1 for e in built if not e.feedback)
    return built


def import_file(
    settings: Settings,
    path: Path,
    fmt: ImportFormat,
    *,
    tenant: str = "default",
    dry_run: bool = False,
    producer: EventProducer | None = None,
) -> ImportReport:
    """Publish the file's responses, then its feedback, on the normal topics, and report what happened.

    Requests are not published: serving answers every request on its topic, and its answer would replace the
    imported one (it has the same response id). The response carries what curation needs.
    """
    report = ImportReport(file=str(path), format=fmt, tenant=tenant, dry_run=dry_run)
    built = build_events(
        parse_file(path, fmt), report=report, dated=file_date(path), max_text_chars=settings.max_text_chars
    )
    if not dry_run and built:
        topics = Topics.from_settings(settings)
        own = producer is None
        producer = producer or EventProducer(settings)
        try:
            # Responses first: feedback that finds its response curates at once instead of waiting for it.
            producer.send_many(topics.responses, [e.response for e in built])
            producer.send_many(topics.feedback, [fb for e in built for fb in e.feedback])
        finally:
            if own:
                producer.close()
    report.finished_at = now()
    return report
