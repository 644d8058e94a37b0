"""The content of one dataset version (pure: no files): from staged curation results, or from examples as they are."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from kaizen.curation.dedup import DedupConfig, Deduplicator
from kaizen.curation.pii import add_counts
from kaizen.curation.records import CurationResult
from kaizen.datasets.examples import content_line
from kaizen.datasets.manifest import (
    INSTRUCTIONS_FILE,
    RAFT_FILE,
    VERSION_CHARS,
    DatasetCounts,
    DatasetManifest,
    DatasetSources,
)
from kaizen.events import InstructionExample, RaftExample, now


class BuiltSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    manifest: DatasetManifest
    instructions: bytes
    raft: bytes


def _dedup_text(ex: InstructionExample) -> str:
    # A rejected pair is only a duplicate of another rejected pair of the same answer.
    target = ex.output if ex.accepted else f"rejected: {ex.rejected_output or ''}"
    # A follow-up ("when was she born?") is only a duplicate of the same follow-up after the same turns.
    prior = "".join(f"{t.role}: {t.content}\n" for t in ex.history)
    return f"{prior}{ex.instruction}\n{target}"


def _order(result: CurationResult) -> tuple[str, str]:
    example = result.instruction
    created = (
        example.created_at.isoformat()
        if example
        else (result.rejection.created_at.isoformat() if result.rejection else "")
    )
    return created, str(result.feedback_id)


def build_snapshot(
    tenant: str,
    staged: Iterable[CurationResult],
    *,
    dedup: DedupConfig,
    filters: list[str],
    parent: DatasetManifest | None,
) -> BuiltSnapshot:
    # One result per feedback event: replayed topics and redelivered events add nothing.
    by_feedback = {r.feedback_id: r for r in staged}
    results = sorted(by_feedback.values(), key=_order)
    deduplicator = Deduplicator(dedup)
    rejections: Counter[str] = Counter()
    kept: list[CurationResult] = []
    for result in results:
        if result.instruction is None:
            rejections[result.reason or "rejected"] += 1
            continue
        verdict = deduplicator.check(tenant, result.instruction.example_id, _dedup_text(result.instruction))
        if verdict.duplicate is not None:
            rejections[verdict.duplicate.value] += 1
            continue
        kept.append(result)
    instructions = [r.instruction for r in kept if r.instruction is not None]
    rafts = [r.raft for r in kept if r.raft is not None]
    return build_version(
        tenant,
        instructions,
        rafts,
        parent=parent,
        feedback=len(results),
        filters=[*filters, "dedup_exact", *([f"dedup_near>={dedup.near_threshold}"] if dedup.near else [])],
        rejections=dict(sorted(rejections.items())),
        pii_counts=add_counts(*(r.pii_counts for r in results)),
    )


def build_version(
    tenant: str,
    instructions: Sequence[InstructionExample],
    rafts: Sequence[RaftExample],
    *,
    parent: DatasetManifest | None,
    source: str = "curation",
    feedback: int = 0,
    filters: list[str] | None = None,
    rejections: dict[str, int] | None = None,
    pii_counts: dict[str, int] | None = None,
) -> BuiltSnapshot:
    """The one way a version's files and manifest are made, whatever wrote the examples."""
    instructions_bytes = "".join(e.model_dump_json() + "\n" for e in instructions).encode()
    raft_bytes = "".join(e.model_dump_json() + "\n" for e in rafts).encode()
    # The version names the examples' content: the same examples re-sent as new events are the same version.
    content = hashlib.sha256(tenant.encode())
    for part in ([content_line(e) for e in instructions], [content_line(e) for e in rafts]):
        content.update(hashlib.sha256("\n".join(part).encode()).digest())
    digest = content.hexdigest()
    times = [e.created_at for e in instructions]
    manifest = DatasetManifest(
        version=digest[:VERSION_CHARS],
        content_hash=digest,
        tenant=tenant,
        parent=parent.version if parent and parent.version != digest[:VERSION_CHARS] else None,
        created_at=now(),
        source=source,
        counts=DatasetCounts(
            feedback=feedback,
            instructions=len(instructions),
            accepted=sum(1 for e in instructions if e.accepted and e.rejected_output is None),
            corrected=sum(1 for e in instructions if e.accepted and e.rejected_output is not None),
            rejected_pairs=sum(1 for e in instructions if not e.accepted),
            raft=len(rafts),
            raft_oracle_included=sum(1 for r in rafts if r.oracle_included),
        ),
        sources=DatasetSources(
            strategies=dict(sorted(Counter(e.strategy for e in instructions).items())),
            knowledge_bases=dict(sorted(Counter(r.knowledge_base for r in rafts if r.knowledge_base).items())),
            documents=len({sid.rsplit("#", 1)[0] for e in instructions for sid in e.source_ids}),
            first_feedback_at=min(times) if times else None,
            last_feedback_at=max(times) if times else None,
        ),
        filters_applied=filters or [],
        rejections=rejections or {},
        pii_counts=pii_counts or {},
        files={
            INSTRUCTIONS_FILE: hashlib.sha256(instructions_bytes).hexdigest(),
            RAFT_FILE: hashlib.sha256(raft_bytes).hexdigest(),
        },
    )
    return BuiltSnapshot(manifest=manifest, instructions=instructions_bytes, raft=raft_bytes)
