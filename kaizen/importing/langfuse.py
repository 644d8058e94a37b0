"""Langfuse traces: the UI's trace download (``trace-<id>.json``: the trace with its observations and scores),
a JSON list of such traces, or the tracing table's JSONL export.

The question and answer are the trace's ``input`` and ``output``; where those are empty (Langfuse v4 keeps them on
observations), the root observation's, else the last generation's. Every score on the trace becomes one feedback
event: BOOLEAN a thumb, NUMERIC a rating (1-5) or a thumb ([0, 1]), CATEGORICAL a thumb or a label, CORRECTION
the corrected answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kaizen.importing.records import ImportedFeedback, ImportedInteraction, Parsed
from kaizen.importing.shapes import (
    Conversation,
    ShapeError,
    describe,
    input_conversation,
    output_text,
    parse_time,
    score_feedback,
)
from kaizen.importing.traces import records


def _io_source(trace: dict[str, Any]) -> dict[str, Any]:
    if trace.get("input") not in (None, "", {}) and trace.get("output") not in (None, "", {}):
        return trace
    observations = [o for o in trace.get("observations") or [] if isinstance(o, dict)]
    with_io = [o for o in observations if o.get("input") not in (None, "") and o.get("output") not in (None, "")]
    roots = [o for o in with_io if not o.get("parentObservationId")]
    if roots:
        return roots[0]
    generations = sorted(
        (o for o in with_io if str(o.get("type", "")).upper() == "GENERATION"), key=lambda o: str(o.get("startTime"))
    )
    if generations:
        return generations[-1]
    raise ShapeError("no input and output on the trace or any of its observations")


def _score(score: dict[str, Any], user: str | None) -> ImportedFeedback:
    key = str(score.get("id") or score.get("name") or "score")
    kind = str(score.get("dataType") or "").upper()
    created = parse_time(score.get("timestamp") or score.get("createdAt"))
    comment = score.get("comment") or None
    if kind == "CORRECTION":
        text = score.get("stringValue") or score.get("value")
        if not isinstance(text, str) or not text.strip():
            raise ShapeError("a CORRECTION score without its corrected text")
        return ImportedFeedback(key=key, correction=text, comment=comment, user_id=user, created_at=created)
    value = score.get("stringValue") if kind == "CATEGORICAL" else score.get("value")
    if value is None:
        value = score.get("stringValue")
    fb = score_feedback(key, str(score.get("name") or ""), value, comment=comment, created_at=created)
    return fb.model_copy(update={"user_id": user})


def _unwrap(record: dict[str, Any]) -> dict[str, Any]:
    # {"trace": {...}, "observations": [...], "scores": [...]} and the flat trace object both occur.
    if isinstance(record.get("trace"), dict):
        return {**record["trace"], **{k: v for k, v in record.items() if k in ("observations", "scores")}}
    return record


def _interaction(trace: dict[str, Any], label: str, parsed: Parsed) -> ImportedInteraction:
    source = _io_source(trace)
    asked = input_conversation(source.get("input"))
    chat = asked if isinstance(asked, Conversation) else None
    user = trace.get("userId")
    feedback = []
    for n, score in enumerate(trace.get("scores") or []):
        where = f"{label} score {score.get('id', n) if isinstance(score, dict) else n}"
        try:
            if not isinstance(score, dict):
                raise ShapeError("not an object")
            fb = _score(score, user)
        except (ShapeError, ValidationError) as exc:
            parsed.skip(where, f"invalid score: {describe(exc)}")
            continue
        if not fb.empty:
            feedback.append(fb)
    return ImportedInteraction(
        key=str(trace["id"]),
        where=label,
        question=chat.question if chat else str(asked),
        answer=output_text(source.get("output")),
        system=chat.system if chat else None,
        history=chat.history if chat else [],
        user_id=user,
        session_id=trace.get("sessionId"),
        created_at=parse_time(trace.get("timestamp")),
        feedback=feedback,
    )


def parse_langfuse(path: Path) -> Parsed:
    parsed = Parsed()
    for where, raw in records(path, list_keys=("traces", "data")):
        if isinstance(raw, ShapeError):
            parsed.skip(where, str(raw))
            continue
        if not isinstance(raw, dict) or not _unwrap(raw).get("id"):
            parsed.skip(where, "not a trace: no id")
            continue
        trace = _unwrap(raw)
        label = f"trace {trace['id']}"
        try:
            parsed.interactions.append(_interaction(trace, label, parsed))
        except (ShapeError, ValidationError) as exc:
            parsed.skip(label, f"invalid: {describe(exc)}")
    return parsed
