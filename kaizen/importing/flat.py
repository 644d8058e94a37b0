"""Flat logs, one interaction per JSONL line or CSV row: question and answer columns, feedback columns optional."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kaizen.importing.records import ImportedFeedback, ImportedInteraction, Parsed
from kaizen.importing.shapes import ShapeError, content_key, describe, parse_time, rating_of, thumbs_of


class FlatRecord(BaseModel):
    """One row. Extra columns are ignored (logs carry more than Kaizen needs)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(None, description="The record's own id; without one its content is its identity.")
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    system: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    created_at: Any = None
    thumbs: Any = None
    rating: Any = None
    correction: str | None = None
    comment: str | None = None
    labels: list[str] | str | None = None

    @field_validator("question", "answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("blank")
        return value

    @field_validator("id", "system", "user_id", "session_id", "correction", "comment", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return str(value) if isinstance(value, int | float) else value


def _labels(value: list[str] | str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # a CSV cell: comma or semicolon separated
        return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    return [v for v in value if v.strip()]


def interaction_of(raw: dict[str, Any], where: str) -> ImportedInteraction:
    """One flat record as an interaction; ValidationError or ShapeError say why it is not one."""
    row = FlatRecord.model_validate(raw)
    created = parse_time(row.created_at)
    feedback = ImportedFeedback(
        key="row",
        thumbs=thumbs_of(row.thumbs),
        rating=rating_of(row.rating),
        correction=row.correction,
        comment=row.comment,
        labels=_labels(row.labels),
        user_id=row.user_id,
        created_at=created,
    )
    return ImportedInteraction(
        key=row.id or content_key({k: v for k, v in raw.items() if v not in (None, "")}),
        where=where,
        question=row.question,
        answer=row.answer,
        system=row.system,
        user_id=row.user_id,
        session_id=row.session_id,
        created_at=created,
        feedback=[] if feedback.empty else [feedback],
    )


def _add(parsed: Parsed, raw: Any, where: str) -> None:
    if not isinstance(raw, dict):
        parsed.skip(where, f"not an object: {type(raw).__name__}")
        return
    try:
        parsed.interactions.append(interaction_of(raw, where))
    except (ShapeError, ValidationError) as exc:
        parsed.skip(where, f"invalid: {describe(exc)}")


def json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, value) for every non-blank line; a line that is not JSON yields a ShapeError as its value."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"line {number}", ShapeError(f"not JSON: {exc.msg} at column {exc.colno}")


def parse_jsonl(path: Path) -> Parsed:
    parsed = Parsed()
    for where, value in json_lines(path):
        if isinstance(value, ShapeError):
            parsed.skip(where, str(value))
        else:
            _add(parsed, value, where)
    return parsed


def parse_csv(path: Path) -> Parsed:
    parsed = Parsed()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"question", "answer"} - set(reader.fieldnames or [])
        if missing:
            parsed.skip("header", f"missing columns: {', '.join(sorted(missing))} (found {reader.fieldnames})")
            return parsed
        for row in reader:
            where = f"row {reader.line_num}"
            if None in row:  # more cells than header columns
                parsed.skip(where, f"invalid: {len(row[None])} cells more than the header has")
                continue
            _add(parsed, dict(row), where)
    return parsed
