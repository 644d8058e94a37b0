"""Where training data comes from: a dataset version directory (JSONL + manifest) or a plain list of examples."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kaizen.events import InstructionExample, RaftExample

Example = InstructionExample | RaftExample
MANIFEST_NAMES = ("manifest.json", "MANIFEST.json")


class DatasetError(ValueError):
    pass


class DatasetSnapshot(BaseModel):
    """One immutable dataset version, as training sees it."""

    model_config = ConfigDict(frozen=True)

    version: str
    tenant: str = "default"
    examples: list[Example] = Field(default_factory=list)
    path: Path | None = None

    @property
    def size(self) -> int:
        return len(self.examples)


def parse_example(line: str) -> Example:
    data = json.loads(line)
    if "instruction" in data:
        return InstructionExample.model_validate(data)
    if "question" in data and "documents" in data:
        return RaftExample.model_validate(data)
    raise DatasetError(f"neither an instruction nor a RAFT example: keys {sorted(data)[:6]}")


def _manifest(path: Path) -> dict[str, object]:
    for name in MANIFEST_NAMES:
        if (path / name).exists():
            return json.loads((path / name).read_text())
    return {}


def read_dataset_dir(path: Path, *, tenant: str | None = None) -> DatasetSnapshot:
    """Every example in the version's JSONL files; a bad line names its file and line instead of being dropped."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"dataset version {path} does not exist")
    examples: list[Example] = []
    for file in sorted(path.rglob("*.jsonl")):
        for n, line in enumerate(file.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                examples.append(parse_example(line))
            except (ValidationError, json.JSONDecodeError, DatasetError) as exc:
                raise DatasetError(f"{file}:{n}: {exc}") from exc
    if tenant is not None:
        examples = [e for e in examples if e.tenant == tenant]
    manifest = _manifest(path)
    version = str(manifest.get("version") or path.name)
    return DatasetSnapshot(version=version, tenant=tenant or "default", examples=examples, path=path)


def snapshot_of(examples: Sequence[Example], *, tenant: str = "default") -> DatasetSnapshot:
    """An in-memory dataset; its version is a digest of the examples' content (not of event ids or times)."""
    digest = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.example_id):
        digest.update(ex.model_dump_json(exclude={"event_id", "created_at"}).encode())
    return DatasetSnapshot(version=f"mem-{digest.hexdigest()[:12]}", tenant=tenant, examples=list(examples))
