"""Exports of a dataset version in the forms trainers read, and its statistics.

Line formats go to a file or stdout; ``hf`` is a directory that Hugging Face ``datasets`` loads, with a dataset card.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from statistics import mean, median

import yaml
from pydantic import BaseModel, Field

from kaizen.datasets.manifest import DatasetManifest
from kaizen.datasets.store import DatasetStore
from kaizen.events import InstructionExample, RaftExample


class ExportFormat(StrEnum):
    chat = "chat"  # {"messages": [...]} per accepted example: supervised fine-tuning
    raft = "raft"  # RAFT rows: documents + question as the prompt, the quoted chain of thought as the target
    jsonl = "jsonl"  # every instruction example as stored, rejected pairs included
    preference = "preference"  # {"prompt", "chosen", "rejected"} per pair: DPO (TRL's standard format)
    openai = "openai"  # OpenAI supervised fine-tuning: {"messages": [...]} and nothing else
    openai_dpo = "openai-dpo"  # OpenAI preference fine-tuning: input / preferred_output / non_preferred_output
    stats = "stats"  # one JSON object: the statistics report
    hf = "hf"  # a directory for Hugging Face ``datasets``: one config per form, and a dataset card


def chat_rows(examples: list[InstructionExample]) -> Iterator[dict[str, object]]:
    for ex in examples:
        if ex.accepted and ex.output.strip():
            yield {"id": ex.example_id, "messages": ex.to_chat()}


class PreferencePair(BaseModel):
    id: str
    prompt: str
    chosen: str
    rejected: str
    # System prompt and earlier turns before ``prompt``: the OpenAI form sends them as messages; TRL's string
    # ``prompt`` form has no place for them.
    prior: list[dict[str, str]] = Field(default_factory=list, exclude=True)


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _prompt_key(ex: InstructionExample) -> str:
    # The same question after different turns is a different prompt.
    return "\n".join(f"{m['role']}: {_key(m['content'])}" for m in ex.prompt_messages())


def preference_pairs(examples: list[InstructionExample]) -> list[PreferencePair]:
    """A corrected answer is a pair by itself (the correction over the answer); a rejected answer pairs with an
    accepted or corrected answer to the same prompt, and is left out when there is none (nothing to prefer).

    Of several good answers to one prompt the first in sorted order is chosen: a version's examples come in no fixed
    order, and an export of one version must always be the same file."""
    chosen_for: dict[str, str] = {}
    for ex in examples:
        if ex.accepted and ex.output.strip():
            key = _prompt_key(ex)
            chosen_for[key] = min(chosen_for.get(key, ex.output), ex.output)
    pairs: list[PreferencePair] = []
    for ex in examples:
        rejected = (ex.rejected_output or "").strip()
        if not rejected:
            continue
        chosen = ex.output if ex.accepted else chosen_for.get(_prompt_key(ex), "")
        if chosen.strip() and _key(chosen) != _key(rejected):
            *prior, user = ex.prompt_messages()
            pairs.append(
                PreferencePair(id=ex.example_id, prompt=user["content"], chosen=chosen, rejected=rejected, prior=prior)
            )
    return pairs


def openai_chat_rows(examples: list[InstructionExample]) -> Iterator[dict[str, object]]:
    # OpenAI rejects keys it does not know: the example id stays out.
    for row in chat_rows(examples):
        yield {"messages": row["messages"]}


def openai_dpo_rows(pairs: list[PreferencePair]) -> Iterator[dict[str, object]]:
    for p in pairs:
        yield {
            "input": {"messages": [*p.prior, {"role": "user", "content": p.prompt}]},
            "preferred_output": [{"role": "assistant", "content": p.chosen}],
            "non_preferred_output": [{"role": "assistant", "content": p.rejected}],
        }


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
    preference_pairs: int = 0


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
        preference_pairs=len(preference_pairs(instructions)),
    )


def rows(store: DatasetStore, version: str, fmt: ExportFormat) -> Iterator[dict[str, object]]:
    """The rows of a line format."""
    if fmt == ExportFormat.chat:
        yield from chat_rows(store.instructions(version))
    elif fmt == ExportFormat.raft:
        yield from raft_rows(store.raft(version))
    elif fmt == ExportFormat.preference:
        yield from (p.model_dump() for p in preference_pairs(store.instructions(version)))
    elif fmt == ExportFormat.openai:
        yield from openai_chat_rows(store.instructions(version))
    elif fmt == ExportFormat.openai_dpo:
        yield from openai_dpo_rows(preference_pairs(store.instructions(version)))
    else:
        raise ValueError(f"{fmt.value} is not a line format")


def export_lines(store: DatasetStore, version: str, fmt: ExportFormat) -> Iterator[str]:
    if fmt == ExportFormat.hf:
        raise ValueError("the hf export is a directory: use export_hf_dir")
    if fmt == ExportFormat.stats:
        yield statistics(store, version).model_dump_json(indent=2)
        return
    if fmt == ExportFormat.jsonl:
        for ex in store.instructions(version):
            yield ex.model_dump_json()
        return
    for row in rows(store, version, fmt):
        yield json.dumps(row, ensure_ascii=False)


# Hugging Face configs: name -> (line format, what a row is)
HF_CONFIGS = {
    "sft": (ExportFormat.chat, "accepted and corrected answers as chat messages (supervised fine-tuning)"),
    "raft": (ExportFormat.raft, "RAFT rows: documents and question, the answer quoting its oracle"),
    "preference": (ExportFormat.preference, "prompt, chosen, rejected (DPO)"),
}


def export_hf_dir(store: DatasetStore, version: str, out: Path) -> dict[str, int]:
    """``out`` becomes a dataset repository: ``datasets.load_dataset(out, config)``. Returns rows per config."""
    manifest = store.manifest(version)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, (fmt, _) in HF_CONFIGS.items():
        lines = [json.dumps(row, ensure_ascii=False) for row in rows(store, manifest.version, fmt)]
        path = out / name / "train.jsonl"
        if not lines:  # an empty config would not load: it is left out of the card too
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        counts[name] = len(lines)
    (out / "README.md").write_text(dataset_card(manifest, counts), encoding="utf-8")
    return counts


def dataset_card(manifest: DatasetManifest, counts: dict[str, int]) -> str:
    configs = [
        {"config_name": name, "data_files": [{"split": "train", "path": f"{name}/train.jsonl"}]} for name in counts
    ]
    if configs:
        configs[0]["default"] = True
    header = {
        "pretty_name": f"Kaizen dataset {manifest.version} ({manifest.tenant})",
        "tags": ["kaizen", manifest.source],
        "configs": configs,
    }
    c = manifest.counts
    body = [
        f"# Kaizen dataset {manifest.version}",
        "",
        f"Tenant `{manifest.tenant}`, written by {manifest.source} on {manifest.created_at:%Y-%m-%d %H:%M} UTC; "
        f"content hash `{manifest.content_hash}`; parent {manifest.parent or 'none'}.",
        "",
        "| config | rows | a row is |",
        "|---|---:|---|",
        *(f"| {name} | {n} | {HF_CONFIGS[name][1]} |" for name, n in counts.items()),
        "",
        f"From {c.feedback} feedback events: {c.accepted} accepted, {c.corrected} corrected, "
        f"{c.rejected_pairs} rejected answers; {c.raft} RAFT examples ({c.raft_oracle_included} with the oracle).",
        f"Filters: {', '.join(manifest.filters_applied) or 'none'}. "
        f"Personal data replaced: {', '.join(f'{k}={v}' for k, v in manifest.pii_counts.items()) or 'none'}.",
        "",
    ]
    return f"---\n{yaml.safe_dump(header, sort_keys=False, allow_unicode=True)}---\n\n" + "\n".join(body)
