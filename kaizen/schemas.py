"""JSON Schema (2020-12) of every wire event, generated from the models and checked in under ``schemas/``.

The compatibility rule (also stated in every schema and in ``schemas/README.md``): within one major
``schema_version`` every change is backward compatible (a new consumer reads old events) and forward compatible
(an old consumer reads new events). Consumers ignore fields they do not know; producers may send only what the
schema names. So a change may add optional fields, and nothing else: a new required field, a removed field or a
changed type needs the next ``schema_version``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kaizen.events import ALL_EVENTS, SCHEMA_VERSION, Event

DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://kaizen.dev/schemas/"
COMPATIBILITY = (
    f"schema_version {SCHEMA_VERSION}: backward and forward compatible within this major version. Consumers ignore "
    "unknown fields (counted in kaizen_event_unknown_fields_total); producers send only the fields named here "
    "(additionalProperties false). Adding an optional field is compatible; adding a required field, removing a "
    "field or changing a type needs the next schema_version."
)
# Words about a field, not its shape: changing them breaks nobody.
_PROSE = ("title", "description", "examples")


def schema_for(model: type[Event]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DIALECT, "$id": f"{BASE_ID}{model.kind}.json", "x-compatibility": COMPATIBILITY, **schema}


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


def _shape(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in _PROSE}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


def _version(schema: dict[str, Any]) -> Any:
    return schema.get("properties", {}).get("schema_version", {}).get("const")


def _object_problems(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if "properties" not in old or "properties" not in new:
        # An enum or other leaf type: any change (even a new enum value) is refused by one side or the other.
        return [f"{where}: type changed"] if _shape(old) != _shape(new) else []
    old_props, new_props = old["properties"], new["properties"]
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    problems = [f"{where}{name}: removed" for name in sorted(set(old_props) - set(new_props))]
    problems += [f"{where}{name}: newly required" for name in sorted(new_required - old_required)]
    optional_now = (old_required - new_required) & set(new_props)
    problems += [f"{where}{name}: no longer required" for name in sorted(optional_now)]
    problems += [
        f"{where}{name}: type changed"
        for name in sorted(set(old_props) & set(new_props))
        if _shape(old_props[name]) != _shape(new_props[name])
    ]
    return problems


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in ``new`` breaks readers or writers of ``old`` within one schema_version (empty when compatible)."""
    if _version(old) != _version(new):
        return []  # a new major version: free to change, since consumers refuse a version they do not read
    problems = _object_problems("", old, new)
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    for name in sorted(set(old_defs) | set(new_defs)):
        if name not in old_defs or name not in new_defs:
            continue  # a type used or no longer used shows as a changed field above
        problems += _object_problems(f"{name}.", old_defs[name], new_defs[name])
    return problems


def compatibility_report(directory: Path) -> dict[str, list[str]]:
    """Per checked-in schema, what the code changed incompatibly since it was exported."""
    report = {}
    for model in ALL_EVENTS:
        path = directory / f"{model.kind}.json"
        if path.exists() and (problems := incompatibilities(json.loads(path.read_text()), schema_for(model))):
            report[path.name] = problems
    return report
