"""Few-shot chain-of-thought exemplars: a pool per tenant, seeded from files and grown by the flywheel.

Exemplars for a question are chosen by embedding similarity with maximal marginal relevance (MMR), so the k shown
are close to the question but not near-copies of each other.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from kaizen.events import TENANT_PATTERN, InstructionExample
from kaizen.reasoning.parsing import parse_reasoned

Embed = Callable[[list[str]], np.ndarray]
SEED_FILE = Path(__file__).resolve().parent.parent / "prompts" / "exemplars" / "cot_seed.jsonl"
SHARED = "*"
# Long exemplars crowd the prompt of a small model out of its useful context; the flywheel offers plenty.
MAX_INPUT_CHARS = 600
MAX_OUTPUT_CHARS = 300


class Exemplar(BaseModel):
    exemplar_id: str
    input: str = Field(min_length=1, max_length=MAX_INPUT_CHARS)
    reasoning: str = Field(min_length=1)
    output: str = Field(min_length=1, max_length=MAX_OUTPUT_CHARS)
    tenant: str = SHARED
    source: Literal["seed", "flywheel"] = "seed"


class ExemplarFileError(ValueError):
    """A seed or pool file that is not one JSON exemplar per line."""


def read_exemplars(path: Path, **overrides: str) -> list[Exemplar]:
    exemplars = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            exemplars.append(Exemplar.model_validate({**json.loads(line), **overrides}))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ExemplarFileError(f"{path}:{number}: not a valid exemplar: {exc}") from exc
    return exemplars


def _unique(exemplars: list[Exemplar]) -> list[Exemplar]:
    """First of each id: two replicas may append the same curated example."""
    by_id: dict[str, Exemplar] = {}
    for exemplar in exemplars:
        by_id.setdefault(exemplar.exemplar_id, exemplar)
    return list(by_id.values())


def mmr(query: np.ndarray, candidates: np.ndarray, k: int, lambda_: float) -> list[int]:
    """Indices of k candidates by maximal marginal relevance over cosine similarity."""
    if len(candidates) == 0 or k <= 0:
        return []
    q = query / (np.linalg.norm(query) or 1.0)
    c = candidates / np.clip(np.linalg.norm(candidates, axis=1, keepdims=True), 1e-12, None)
    relevance = c @ q
    pairwise = c @ c.T
    chosen: list[int] = [int(np.argmax(relevance))]
    while len(chosen) < min(k, len(c)):
        redundancy = pairwise[:, chosen].max(axis=1)
        score = lambda_ * relevance - (1.0 - lambda_) * redundancy
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return chosen


class ExemplarPool:
    """Seed exemplars shared by all tenants plus each tenant's own, persisted as ``<store_dir>/<tenant>.jsonl``."""

    def __init__(
        self,
        embed: Embed,
        *,
        store_dir: Path | None = None,
        seed_files: list[Path] | None = None,
        max_per_tenant: int = 1_000,
    ) -> None:
        self._embed = embed
        self._store_dir = Path(store_dir) if store_dir else None
        self._max_per_tenant = max_per_tenant
        self._seeds = [e for path in (seed_files or [SEED_FILE]) for e in read_exemplars(path, tenant=SHARED)]
        self._tenants: dict[str, list[Exemplar]] = {}
        self._stamps: dict[str, tuple[int, int] | None] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_data_dir(cls, data_dir: Path, embed: Embed, *, max_per_tenant: int = 1_000) -> ExemplarPool:
        """The pool persisted under ``<data_dir>/exemplars`` (``settings.data_dir``)."""
        return cls(embed, store_dir=Path(data_dir) / "exemplars", max_per_tenant=max_per_tenant)

    def _tenant_file(self, tenant: str) -> Path | None:
        return self._store_dir / f"{tenant}.jsonl" if self._store_dir else None

    def _tenant_exemplars(self, tenant: str) -> list[Exemplar]:
        # Serving replicas each learn the examples of their own partitions and share them through the file:
        # re-read it whenever another process changed it.
        path = self._tenant_file(tenant)
        stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path and path.exists() else None
        if tenant not in self._tenants or self._stamps.get(tenant) != stamp:
            self._tenants[tenant] = _unique(read_exemplars(path)) if path and stamp else []
            self._stamps[tenant] = stamp
        return self._tenants[tenant]

    def exemplars(self, tenant: str) -> list[Exemplar]:
        with self._lock:
            return [*self._seeds, *self._tenant_exemplars(tenant)]

    def add(self, exemplar: Exemplar) -> bool:
        """Adds a tenant exemplar; False when one with the same id or the same question is already there."""
        if not re.match(TENANT_PATTERN, exemplar.tenant):
            raise ValueError(f"exemplar tenant {exemplar.tenant!r} is not a tenant name")
        with self._lock:
            own = self._tenant_exemplars(exemplar.tenant)
            question = " ".join(exemplar.input.lower().split())
            if any(
                e.exemplar_id == exemplar.exemplar_id or " ".join(e.input.lower().split()) == question
                for e in [*self._seeds, *own]
            ):
                return False
            own.append(exemplar)
            evicted = own[: max(0, len(own) - self._max_per_tenant)]
            del own[: len(evicted)]
            self._persist(exemplar.tenant, own, rewrite=bool(evicted), added=exemplar)
            path = self._tenant_file(exemplar.tenant)
            if path is not None:  # our own write is already in memory
                self._stamps[exemplar.tenant] = (path.stat().st_mtime_ns, path.stat().st_size)
            return True

    def _persist(self, tenant: str, own: list[Exemplar], *, rewrite: bool, added: Exemplar) -> None:
        path = self._tenant_file(tenant)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if rewrite:
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(e.model_dump_json() + "\n" for e in own), "utf-8")
            tmp.replace(path)
        else:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(added.model_dump_json() + "\n")

    def add_from_example(self, example: InstructionExample) -> Exemplar | None:
        """Grows the pool from a highly rated answer that shows its reasoning; returns the exemplar or None.

        Only accepted examples with reasoning qualify — the reasoning steps the curator kept, or an output with
        reasoning and an ``Answer:`` line: an answer without its reasoning teaches the few-shot prompt nothing about
        how to reason.
        """
        if not example.accepted:
            return None
        if example.reasoning:
            reasoning, output = [" ".join(step.split()) for step in example.reasoning], example.output.strip()
        else:
            parsed = parse_reasoned(example.output)
            if not parsed.followed_format:
                return None
            reasoning, output = parsed.reasoning, parsed.answer
        if not any(reasoning) or not output:
            return None
        try:
            exemplar = Exemplar(
                exemplar_id=example.example_id,
                input=" ".join(example.instruction.split()),
                reasoning=" ".join(step for step in reasoning if step),
                output=output,
                tenant=example.tenant,
                source="flywheel",
            )
        except ValidationError:
            return None
        return exemplar if self.add(exemplar) else None

    def _vectors_for(self, exemplars: list[Exemplar]) -> np.ndarray:
        missing = [e for e in exemplars if e.exemplar_id not in self._vectors]
        if missing:
            vectors = np.asarray(self._embed([e.input for e in missing]), dtype=np.float32)
            for exemplar, vector in zip(missing, vectors, strict=True):
                self._vectors[exemplar.exemplar_id] = vector
        return np.stack([self._vectors[e.exemplar_id] for e in exemplars])

    def select_sync(self, question: str, tenant: str, k: int, lambda_: float = 0.7) -> list[Exemplar]:
        candidates = self.exemplars(tenant)
        if not candidates or k <= 0:
            return []
        matrix = self._vectors_for(candidates)
        query = np.asarray(self._embed([question]), dtype=np.float32)[0]
        return [candidates[i] for i in mmr(query, matrix, k, lambda_)]

    async def select(self, question: str, tenant: str, k: int, lambda_: float = 0.7) -> list[Exemplar]:
        # Embedding is CPU-bound work in a sync library: keep it off the event loop.
        return await asyncio.to_thread(self.select_sync, question, tenant, k, lambda_)
