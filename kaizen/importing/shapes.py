"""The shapes tracing tools and chat logs store messages and judgements in, read into plain text and feedback.

Traces keep whatever the app passed in: a string, a list of chat messages, ``{"messages": [...]}``, an OpenAI
completion (``choices[0].message``), or a dict with one obvious text field. Anything else is not guessed at: the
record is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from kaizen.events import Thumbs, Turn
from kaizen.importing.records import ImportedFeedback

# Keys an app's own input/output dicts commonly hold the text under, most specific first.
INPUT_KEYS = ("question", "query", "input", "prompt", "user_input", "text", "content")
OUTPUT_KEYS = ("answer", "output", "response", "completion", "text", "content", "result")


class ShapeError(ValueError):
    """A record whose shape says nothing usable; the message is the skip reason."""


def describe(exc: ShapeError | ValidationError) -> str:
    """A skip reason on one line: pydantic's errors as ``field: message``, joined."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
    return str(exc)


def content_key(data: Any) -> str:
    """A stable identity for a record that carries no id of its own: the hash of its canonical JSON."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def message_text(content: Any) -> str:
    """A chat message's content: a string, or OpenAI content parts (their text parts joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


_LC_ROLES = {"HumanMessage": "user", "AIMessage": "assistant", "SystemMessage": "system", "ToolMessage": "tool"}
_LC_TYPES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def as_message(value: Any) -> dict[str, Any] | None:
    """An OpenAI-style ``{role, content}``, or LangChain's forms of one (``{type, content}`` and the serialized
    ``{"lc": 1, "id": [..., "HumanMessage"], "kwargs": {...}}``) read as one; None for anything else."""
    if not isinstance(value, dict):
        return None
    if "role" in value:
        return value
    if value.get("lc") and isinstance(value.get("kwargs"), dict) and isinstance(value.get("id"), list):
        role = _LC_ROLES.get(str(value["id"][-1]))
        return {"role": role, "content": value["kwargs"].get("content")} if role else None
    if value.get("type") in _LC_TYPES and "content" in value:
        return {"role": _LC_TYPES[value["type"]], "content": value["content"]}
    return None


def messages_of(value: Any) -> list[dict[str, Any]] | None:
    """``value`` as a message list (a batch of one, ``[[...]]``, as LangChain logs it, too); None if it is none."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list) or not value:
        return None
    messages = [as_message(m) for m in value]
    return None if any(m is None for m in messages) else messages  # type: ignore[return-value]


def is_messages(value: Any) -> bool:
    return messages_of(value) is not None


class Conversation:
    """A message list split the way Kaizen's events hold it: system, earlier turns, the last question, the answer."""

    def __init__(self, messages: list[dict[str, Any]], *, answer: str | None = None) -> None:
        system: list[str] = []
        turns: list[Turn] = []
        for m in messages:
            role, text = m.get("role"), message_text(m.get("content"))
            if role in ("system", "developer"):
                system.append(text)
            elif role in ("user", "human") and text.strip():
                turns.append(Turn(role="user", content=text))
            elif role in ("assistant", "ai") and text.strip():
                turns.append(Turn(role="assistant", content=text))
            # tool and function messages carry no user question or answer: not kept
        if answer is None:
            if not turns or turns[-1].role != "assistant":
                raise ShapeError("no answer: the conversation does not end with an assistant message")
            answer = turns.pop().content
        if not turns or turns[-1].role != "user":
            raise ShapeError("no question: no user message before the answer")
        self.question = turns[-1].content
        self.history = turns[:-1]
        self.system = "\n\n".join(s for s in system if s.strip()) or None
        self.answer = answer


def input_conversation(value: Any) -> Conversation | str:
    """The question side of a trace: a conversation (messages) or a plain question."""
    found = messages_of(value.get("messages")) if isinstance(value, dict) else messages_of(value)
    if found is not None:
        return Conversation(found, answer="")
    return _text(value, INPUT_KEYS, "input")


def output_text(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("choices"), list) and value["choices"]:
        first = value["choices"][0]
        if isinstance(first, dict):
            value = first.get("message", first.get("text", first))
    if isinstance(value, dict) and isinstance(value.get("generations"), list):  # LangChain LLMResult
        flat = [g for batch in value["generations"] for g in (batch if isinstance(batch, list) else [batch])]
        first = flat[0] if flat and isinstance(flat[0], dict) else {}
        value = first.get("message", first.get("text", first))
    message = as_message(value)
    if message is not None and message.get("role") == "assistant":
        return message_text(message.get("content"))
    found = messages_of(value.get("messages")) if isinstance(value, dict) else messages_of(value)
    if found is not None:  # an output holding the conversation: its last assistant message
        answers = [message_text(m.get("content")) for m in found if m.get("role") == "assistant"]
        return answers[-1] if answers else ""
    return _text(value, OUTPUT_KEYS, "output")


def _text(value: Any, keys: tuple[str, ...], side: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in keys:
            found = value.get(key)
            if isinstance(found, str):
                return found
            if isinstance(found, dict | list):
                return output_text(found) if is_messages(found) else _text(found, keys, side)
        strings = [v for v in value.values() if isinstance(v, str)]
        if len(strings) == 1:
            return strings[0]
    raise ShapeError(f"no text in the {side}: expected a string, chat messages or one of {', '.join(keys)}")


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (a trailing Z too) or epoch seconds/milliseconds; naive times are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ShapeError(f"bad timestamp {value!r}") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ShapeError(f"bad timestamp {value!r}")


_THUMBS = {"up": Thumbs.up, "down": Thumbs.down, "👍": Thumbs.up, "👎": Thumbs.down, "+1": Thumbs.up, "-1": Thumbs.down}


def thumbs_of(value: Any) -> Thumbs | None:
    """A thumb from true/false, 1/0, "up"/"down"; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return Thumbs.up if value else Thumbs.down
    if isinstance(value, int | float) and value in (0, 1):
        return Thumbs.up if value == 1 else Thumbs.down
    if isinstance(value, str):
        lowered = value.strip().casefold()
        if lowered in _THUMBS:
            return _THUMBS[lowered]
        if lowered in ("true", "yes", "1", "thumbs_up", "positive", "good"):
            return Thumbs.up
        if lowered in ("false", "no", "0", "thumbs_down", "negative", "bad"):
            return Thumbs.down
    raise ShapeError(f"bad thumbs {value!r}: expected up/down, true/false or 1/0")


def rating_of(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"bad rating {value!r}: expected 1-5") from exc
    if not number.is_integer() or not 1 <= number <= 5:
        raise ShapeError(f"bad rating {value!r}: expected a whole number 1-5")
    return int(number)


def score_feedback(
    key: str, name: str, value: Any, *, comment: str | None = None, created_at: datetime | None = None
) -> ImportedFeedback:
    """A named score (Langfuse score, LangSmith feedback) as feedback.

    Booleans and 0/1 are thumbs; whole numbers 1-5 ratings; other numbers in [0, 1] thumbs at 0.5 (a judge's
    probability); strings thumbs where they read as one, else a label (the curator's policy knows "correct",
    "wrong", "helpful", ...). The score's name is not a label: a score "helpful" = 0 must not read as praise.
    """
    thumbs, rating, labels = None, None, []
    if isinstance(value, bool) or (isinstance(value, int | float) and value in (0, 1)):
        thumbs = thumbs_of(value)
    elif isinstance(value, int | float):
        if float(value).is_integer() and 1 <= value <= 5:
            rating = int(value)
        elif 0 <= value <= 1:
            thumbs = Thumbs.up if value >= 0.5 else Thumbs.down
        else:
            raise ShapeError(f"score {name!r} = {value!r}: neither a thumb, a 1-5 rating nor a [0, 1] score")
    elif isinstance(value, str) and value.strip():
        try:
            thumbs = thumbs_of(value)
        except ShapeError:
            labels.append(value.strip())
    return ImportedFeedback(
        key=key, thumbs=thumbs, rating=rating, labels=labels, comment=comment or None, created_at=created_at
    )
