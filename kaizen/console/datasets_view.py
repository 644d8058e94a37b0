"""The datasets page's data: a tenant's versions, one version's examples, a diff, and what was curated lately."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from kaizen.curation.records import CurationResult
from kaizen.datasets.manifest import DatasetManifest
from kaizen.datasets.store import DatasetNotFound, DatasetStore
from kaizen.events import InstructionExample


def versions(store: DatasetStore, tenant: str) -> list[DatasetManifest]:
    """Newest first."""
    return list(reversed(store.list_versions(tenant)))


def owned(store: DatasetStore, version: str, tenant: str) -> DatasetManifest:
    """The manifest of ``version`` when it is the tenant's; another tenant's is as unknown as a missing one."""
    if version == "latest" or version.startswith("latest:"):
        version = f"latest:{tenant}"
    manifest = store.manifest(version)
    if manifest.tenant != tenant:
        raise DatasetNotFound(f"no dataset version {version!r}")
    return manifest


class Changed(BaseModel):
    before: InstructionExample
    after: InstructionExample


class DatasetDiff(BaseModel):
    old: DatasetManifest
    new: DatasetManifest
    added: list[InstructionExample] = Field(default_factory=list)
    removed: list[InstructionExample] = Field(default_factory=list)
    changed: list[Changed] = Field(default_factory=list)
    raft_added: int = 0
    raft_removed: int = 0


def diff(store: DatasetStore, old: str, new: str, tenant: str) -> DatasetDiff:
    """Examples by id: one feedback event is one example, so an id in both versions is the same example."""
    a, b = owned(store, old, tenant), owned(store, new, tenant)
    before = {ex.example_id: ex for ex in store.instructions(a.version)}
    after = {ex.example_id: ex for ex in store.instructions(b.version)}
    raft_before = {ex.example_id for ex in store.raft(a.version)}
    raft_after = {ex.example_id for ex in store.raft(b.version)}
    return DatasetDiff(
        old=a,
        new=b,
        added=[ex for key, ex in after.items() if key not in before],
        removed=[ex for key, ex in before.items() if key not in after],
        changed=[
            Changed(before=before[key], after=ex)
            for key, ex in after.items()
            if key in before
            and before[key].model_dump(exclude={"created_at", "event_id"})
            != ex.model_dump(exclude={"created_at", "event_id"})
        ],
        raft_added=len(raft_after - raft_before),
        raft_removed=len(raft_before - raft_after),
    )


def _response_id(result: CurationResult) -> uuid.UUID | None:
    if result.instruction is not None:
        return result.instruction.response_id
    if result.rejection is not None:
        return result.rejection.response_id
    return None


def curated(
    store: DatasetStore, tenant: str, *, response_id: uuid.UUID | None = None, limit: int = 20
) -> list[CurationResult]:
    """What the curator staged for the tenant, newest first; with ``response_id`` only what feedback on it became."""
    found = [r for r in store.staged(tenant) if response_id is None or _response_id(r) == response_id]
    return list(reversed(found))[:limit]
