"""The append-only, versioned dataset store in a local directory.

Layout under ``root``::

    staging/<tenant>/<writer>.jsonl      curation results as the curator produced them (append-only)
    versions/<version>/manifest.json     one immutable version: manifest + instructions.jsonl + raft.jsonl

This class is the only writer and reader of that layout: the curator's snapshots, the bootstrap flow's model-written
examples and training all go through it. A snapshot reads everything staged for a tenant, keeps one result per
feedback event (replays add nothing), removes duplicate examples, and writes a version named by the hash of its
content: the same examples always make the same version.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from kaizen.config import Settings
from kaizen.curation.dedup import DedupConfig
from kaizen.curation.records import CurationResult
from kaizen.datasets.examples import DatasetSnapshot, Example
from kaizen.datasets.manifest import (
    INSTRUCTIONS_FILE,
    MANIFEST_FILE,
    RAFT_FILE,
    VERSION_CHARS,
    DatasetManifest,
)
from kaizen.datasets.snapshot import BuiltSnapshot, build_snapshot, build_version
from kaizen.events import TENANT_PATTERN, InstructionExample, RaftExample

T = TypeVar("T", InstructionExample, RaftExample)


class DatasetNotFound(LookupError):
    pass


class DatasetCorrupt(ValueError):
    """A version's file holds a line that is not its kind of example."""


class DatasetStore:
    def __init__(self, root: Path, *, writer: str | None = None) -> None:
        self.root = Path(root)
        # One staging file per writer process: replicas never interleave partial lines in one file.
        self.writer = writer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    @classmethod
    def from_settings(cls, settings: Settings) -> DatasetStore:
        return cls(settings.datasets_dir)

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    def _staging(self, tenant: str) -> Path:
        if not re.match(TENANT_PATTERN, tenant):
            raise ValueError(f"invalid tenant name {tenant!r}")
        return self.root / "staging" / tenant

    # --- staging ------------------------------------------------------------------------------------
    def append(self, results: Iterable[CurationResult]) -> int:
        """Stage results (those with an example or a rejection); one write per tenant. Returns lines written."""
        by_tenant: dict[str, list[str]] = {}
        for result in results:
            tenant = _tenant_of(result)
            if tenant is not None:
                by_tenant.setdefault(tenant, []).append(result.model_dump_json())
        written = 0
        for tenant, lines in by_tenant.items():
            folder = self._staging(tenant)
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"{self.writer}.jsonl").open("a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
            written += len(lines)
        return written

    def staged(self, tenant: str) -> Iterator[CurationResult]:
        folder = self._staging(tenant)
        for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
            text = path.read_text(encoding="utf-8")
            # A line without its newline is still being written by a live curator: it belongs to the next snapshot.
            complete = text[: text.rfind("\n") + 1]
            for number, line in enumerate(complete.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    yield CurationResult.model_validate_json(line)
                except ValidationError as exc:
                    raise ValueError(f"{path}:{number}: not a curation result: {exc}") from exc

    def tenants(self) -> list[str]:
        staging = self.root / "staging"
        return sorted(p.name for p in staging.iterdir() if p.is_dir()) if staging.exists() else []

    # --- versions -----------------------------------------------------------------------------------
    def snapshot(
        self, tenant: str = "default", *, dedup: DedupConfig | None = None, filters: list[str] | None = None
    ) -> DatasetManifest:
        """Build a version from everything staged for ``tenant``; an unchanged dataset returns its existing version."""
        parent = self.latest(tenant)
        built = build_snapshot(
            tenant, self.staged(tenant), dedup=dedup or DedupConfig(), filters=filters or [], parent=parent
        )
        return self._write(built)

    def preview(
        self, tenant: str = "default", *, dedup: DedupConfig | None = None, filters: list[str] | None = None
    ) -> DatasetManifest:
        """The manifest ``snapshot`` would write now, without writing it (a watcher polls this)."""
        built = build_snapshot(
            tenant, self.staged(tenant), dedup=dedup or DedupConfig(), filters=filters or [], parent=self.latest(tenant)
        )
        return built.manifest

    def add_version(
        self,
        tenant: str,
        *,
        instructions: Sequence[InstructionExample] = (),
        raft: Sequence[RaftExample] = (),
        source: str,
    ) -> DatasetManifest:
        """A version of examples written outside curation (e.g. the bootstrap flow's), stored like any other."""
        self._staging(tenant)  # validates the tenant name
        if any(e.tenant != tenant for e in [*instructions, *raft]):
            raise ValueError(f"every example of a {tenant!r} version must belong to tenant {tenant!r}")
        return self._write(build_version(tenant, instructions, raft, parent=self.latest(tenant), source=source))

    def _write(self, built: BuiltSnapshot) -> DatasetManifest:
        existing = self._find(built.manifest.version)
        if existing is not None:
            return existing
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.versions_dir / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            (tmp / INSTRUCTIONS_FILE).write_bytes(built.instructions)
            (tmp / RAFT_FILE).write_bytes(built.raft)
            (tmp / MANIFEST_FILE).write_text(built.manifest.model_dump_json(indent=2), encoding="utf-8")
            # The rename makes a version appear whole or not at all.
            tmp.rename(self.versions_dir / built.manifest.version)
        except FileExistsError:
            shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.manifest(built.manifest.version)

    def list_versions(self, tenant: str | None = None) -> list[DatasetManifest]:
        if not self.versions_dir.exists():
            return []
        manifests = [
            DatasetManifest.model_validate_json((p / MANIFEST_FILE).read_text(encoding="utf-8"))
            for p in self.versions_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_FILE).exists()
        ]
        manifests = [m for m in manifests if tenant is None or m.tenant == tenant]
        return sorted(manifests, key=lambda m: (m.created_at, m.version))

    def latest(self, tenant: str) -> DatasetManifest | None:
        versions = self.list_versions(tenant)
        return versions[-1] if versions else None

    def _find(self, version: str) -> DatasetManifest | None:
        path = self.versions_dir / version / MANIFEST_FILE
        return DatasetManifest.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None

    def resolve(self, version: str) -> str:
        """A full version from a unique prefix (at least 4 characters) or ``latest[:tenant]``."""
        if version == "latest" or version.startswith("latest:"):
            tenant = version.partition(":")[2] or "default"
            found = self.latest(tenant)
            if found is None:
                raise DatasetNotFound(f"no dataset version for tenant {tenant!r}")
            return found.version
        if len(version) < 4 or not all(c in "0123456789abcdef" for c in version):
            raise DatasetNotFound(f"{version!r} is not a version (hex, at least 4 characters)")
        names = [m.version for m in self.list_versions() if m.version.startswith(version[:VERSION_CHARS])]
        if not names:
            raise DatasetNotFound(f"no dataset version {version!r}")
        if len(names) > 1:
            raise DatasetNotFound(f"{version!r} is ambiguous: {', '.join(names)}")
        return names[0]

    def manifest(self, version: str) -> DatasetManifest:
        found = self._find(self.resolve(version))
        if found is None:  # pragma: no cover - resolve() only returns existing versions
            raise DatasetNotFound(version)
        return found

    def path(self, version: str) -> Path:
        return self.versions_dir / self.resolve(version)

    def instructions(self, version: str) -> list[InstructionExample]:
        return _read(self.path(version) / INSTRUCTIONS_FILE, InstructionExample)

    def raft(self, version: str) -> list[RaftExample]:
        return _read(self.path(version) / RAFT_FILE, RaftExample)

    def load(self, version: str, *, tenant: str | None = None) -> DatasetSnapshot:
        """Every example of a version, as training reads it; ``tenant`` guards against training on another's data."""
        manifest = self.manifest(version)
        if tenant is not None and manifest.tenant != tenant:
            raise DatasetNotFound(
                f"dataset version {manifest.version} belongs to tenant {manifest.tenant!r}, not {tenant!r}"
            )
        examples: list[Example] = [*self.instructions(manifest.version), *self.raft(manifest.version)]
        return DatasetSnapshot(
            version=manifest.version, tenant=manifest.tenant, examples=examples, path=self.path(manifest.version)
        )

    def verify(self, version: str) -> bool:
        """True when the files on disk still hash to what the manifest recorded."""
        manifest = self.manifest(version)
        folder = self.path(version)
        return all(
            hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
            for name, digest in manifest.files.items()
        )


def _read(path: Path, model: type[T]) -> list[T]:
    """The file's examples; a bad line names its file and line instead of being dropped."""
    out: list[T] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(model.model_validate_json(line))
            except ValidationError as exc:
                raise DatasetCorrupt(f"{path}:{number}: not a {model.kind}: {exc}") from exc
    return out


def _tenant_of(result: CurationResult) -> str | None:
    if result.instruction is not None:
        return result.instruction.tenant
    if result.rejection is not None:
        return result.rejection.tenant
    return None
