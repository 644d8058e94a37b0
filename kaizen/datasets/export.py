"""Exports of a dataset version in the forms trainers read, and its statistics."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from statistics import mean, median

from pydantic import BaseModel, Field

from kaizen.datasets.manifest import DatasetManifest
from kaizen.datasets.store import DatasetStore
from kaizen.events import InstructionExample, RaftExample


class ExportFormat(StrEnum):
    chat = "chat"  # {"messages": [...]} per accepted example: supervised fine-tuning
    raft = "raft"  # RAFT rows: documents + question as the prompt, the quoted chain of thought as the target
    jsonl = "jsonl"  # every instruction example as stored, rejected pairs included
    stats = "stats"  # one JSON object: the statistics report


def chat_rows(examples: list[InstructionExample]) -> Iterator[dict[str, object]]:
    for ex in examples:
        if ex.accepted and ex.output.strip():
            yield {"id": ex.example_id, "messages": ex.to_chat()}


def raft_prompt(example: RaftExample) -> str:
    docs = "".join(f"<DOCUMENT>{d.title + ': ' if d.title else ''}{d.text}</DOCUMENT>\n" for d in example.documents)
    return f"{docs}{example.question}"


def raft_rows(examples: list[RaftExample]) -> Iterator[dict[str, object]]:
    for ex in examples:
        prompt = raft_prompt(ex)
        yield {
            "id": ex.example_id,
            "question": ex.question,
            "context": [{"title": d.title, "text": d.text, "oracle": d.oracle} for d in ex.documents],
            "oracle_included": ex.oracle_included,
            "instruction": prompt,
            "cot_answer": ex.answer,
            "final_answer": ex.final_answer,
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": ex.answer}],
        }


class LengthStats(BaseModel):
    count: int = 0
    mean: float = 0.0
    median: float = 0.0
    max: int = 0

    @classmethod
    def of(cls, values: list[int]) -> LengthStats:
        if not values:
            return cls()
        return cls(count=len(values), mean=round(mean(values), 1), median=float(median(values)), max=max(values))


class DatasetStats(BaseModel):
    manifest: DatasetManifest
    instruction_chars: LengthStats
    output_chars: LengthStats
    raft_documents: LengthStats
    with_context: int
    labels: dict[str, int] = Field(default_factory=dict)


def statistics(store: DatasetStore, version: str) -> DatasetStats:
    manifest = store.manifest(version)
    instructions = store.instructions(version)
    rafts = store.raft(version)
    targets = [ex for ex in instructions if ex.accepted]
    return DatasetStats(
        manifest=manifest,
        instruction_chars=LengthStats.of([len(ex.instruction) for ex in instructions]),
        output_chars=LengthStats.of([len(ex.output) for ex in targets]),
        raft_documents=LengthStats.of([len(ex.documents) for ex in rafts]),
        with_context=sum(1 for ex in instructions if ex.context),
        labels=dict(Counter("accepted" if ex.accepted else "rejected_pair" for ex in instructions)),
    )


def export_lines(store: DatasetStore, version: str, fmt: ExportFormat) -> Iterator[str]:
    if fmt == ExportFormat.stats:
        yield statistics(store, version).model_dump_json(indent=2)
        return
    if fmt == ExportFormat.jsonl:
        for ex in store.instructions(version):
            yield ex.model_dump_json()
        return
    rows = chat_rows(store.instructions(version)) if fmt == ExportFormat.chat else raft_rows(store.raft(version))
    for row in rows:
        yield json.dumps(row, ensure_ascii=False)
