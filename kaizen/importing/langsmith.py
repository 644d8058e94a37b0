"""LangSmith runs and their feedback: ``Run`` and ``Feedback`` records as the SDK and API return them.

The file is a JSON list, an object ``{"runs": [...], "feedback": [...]}``, or JSON Lines; a record with a ``key``
and a ``run_id`` (and no ``run_type``) is feedback, anything else a run. Root runs (no ``parent_run_id``) are the
interactions: their ``inputs`` and ``outputs`` the question and answer. Feedback on a child run counts for its
trace's root run. ``score`` reads as a thumb (0/1, true/false), a rating (1-5) or a thumb at 0.5 ([0, 1]), a
categorical ``value`` as a thumb or a label, and ``correction`` (a string, or an object with the output) is the
corrected answer.
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


def _is_feedback(record: dict[str, Any]) -> bool:
    return "key" in record and "run_id" in record and "run_type" not in record


def _feedback(record: dict[str, Any], user: str | None) -> ImportedFeedback:
    key = str(record.get("id") or record.get("key") or "feedback")
    created = parse_time(record.get("created_at"))
    comment = record.get("comment") or None
    correction = record.get("correction")
    if correction not in (None, "", {}):
        text = correction if isinstance(correction, str) else output_text(correction)
        return ImportedFeedback(key=key, correction=text, comment=comment, user_id=user, created_at=created)
    value = record.get("score")
    if value is None:
        value = record.get("value")
    fb = score_feedback(key, str(record.get("key") or ""), value, comment=comment, created_at=created)
    return fb.model_copy(update={"user_id": user})


def _metadata(run: dict[str, Any]) -> dict[str, Any]:
    extra = run.get("extra") or {}
    meta = extra.get("metadata") if isinstance(extra, dict) else None
    return meta if isinstance(meta, dict) else {}


def parse_langsmith(path: Path) -> Parsed:
    parsed = Parsed()
    runs: dict[str, tuple[str, dict[str, Any]]] = {}
    feedback: list[dict[str, Any]] = []
    for where, raw in records(path, list_keys=("runs", "feedback")):
        if isinstance(raw, ShapeError):
            parsed.skip(where, str(raw))
        elif not isinstance(raw, dict) or not raw.get("id"):
            parsed.skip(where, "not a record: a run or feedback without an id")
        elif _is_feedback(raw):
            feedback.append(raw)
        else:
            runs[str(raw["id"])] = (where, raw)
    roots = {rid: run for rid, (_, run) in runs.items() if not run.get("parent_run_id")}

    def root_of(run_id: str) -> str | None:
        if run_id in roots:
            return run_id
        run = runs.get(run_id, ("", {}))[1]
        trace = str(run.get("trace_id") or "")
        return trace if trace in roots else None

    by_root: dict[str, list[dict[str, Any]]] = {}
    for record in feedback:
        root = root_of(str(record["run_id"])) or (
            str(record.get("trace_id")) if str(record.get("trace_id")) in roots else None
        )
        if root is None:
            parsed.skip(f"feedback {record['id']}", f"unknown run: {record['run_id']} is not a run of this file")
            continue
        by_root.setdefault(root, []).append(record)

    for rid, run in roots.items():
        label = f"run {rid}"
        try:
            asked = input_conversation(run.get("inputs"))
            chat = asked if isinstance(asked, Conversation) else None
            if run.get("error") and not run.get("outputs"):
                raise ShapeError(f"failed run: {str(run['error'])[:120]}")
            meta = _metadata(run)
            user = meta.get("user_id") or meta.get("user")
            items = []
            for record in by_root.get(rid, []):
                try:
                    fb = _feedback(record, str(user) if user else None)
                    if not fb.empty:
                        items.append(fb)
                except (ShapeError, ValidationError) as exc:
                    parsed.skip(f"feedback {record['id']}", f"invalid feedback: {describe(exc)}")
            session = meta.get("thread_id") or meta.get("session_id") or meta.get("conversation_id")
            parsed.interactions.append(
                ImportedInteraction(
                    key=rid,
                    where=label,
                    question=chat.question if chat else str(asked),
                    answer=output_text(run.get("outputs")),
                    system=chat.system if chat else None,
                    history=chat.history if chat else [],
                    user_id=str(user) if user else None,
                    session_id=str(session) if session else None,
                    created_at=parse_time(run.get("start_time")),
                    feedback=items,
                )
            )
        except (ShapeError, ValidationError) as exc:
            reason = describe(exc)
            parsed.skip(label, reason if reason.startswith("failed run") else f"invalid: {reason}")
    return parsed
