"""JSON Schema (2020-12) of every wire event, generated from the models and checked in under ``schemas/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kaizen.events import ALL_EVENTS, Event

DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://kaizen.dev/schemas/"


def schema_for(model: type[Event]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DIALECT, "$id": f"{BASE_ID}{model.kind}.json", **schema}


def render(model: type[Event]) -> str:
    return json.dumps(schema_for(model), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in ALL_EVENTS:
        path = directory / f"{model.kind}.json"
        path.write_text(render(model))
        written.append(path)
    return written


def stale(directory: Path) -> list[str]:
    """Names of schema files that are missing, differ from the code, or no longer match an event."""
    expected = {f"{m.kind}.json": render(m) for m in ALL_EVENTS}
    problems = [
        name
        for name, text in expected.items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]
    problems += [p.name for p in directory.glob("*.json") if p.name not in expected]
    return sorted(problems)
