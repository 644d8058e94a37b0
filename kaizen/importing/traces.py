"""Reading a trace export file: one JSON document (an object or a list) or JSON Lines, whichever the file is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kaizen.importing.flat import json_lines
from kaizen.importing.shapes import ShapeError


def records(path: Path, *, list_keys: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(where, record): a JSON list's items, a wrapper object's lists under ``list_keys``, or each JSON line.

    A value that could not be read is yielded as a ShapeError, so the caller reports it and carries on.
    """
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        yield from json_lines(path)  # not one document: JSON Lines (each line reports its own errors)
        return
    if isinstance(whole, list):
        for n, item in enumerate(whole):
            yield f"item {n}", item
        return
    if isinstance(whole, dict) and any(isinstance(whole.get(k), list) for k in list_keys):
        for key in list_keys:
            for n, item in enumerate(whole.get(key) or []):
                yield f"{key}[{n}]", item
        return
    if isinstance(whole, dict):
        yield "document", whole
        return
    yield "document", ShapeError(f"not an object or a list: {type(whole).__name__}")
