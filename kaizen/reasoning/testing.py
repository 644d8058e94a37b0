"""Test doubles for orchestration tests: a scripted model, an in-memory keyword retriever, a hashing embedder.

They exercise control flow (what is asked, in which order, what is done with the answer); every strategy is also
tested through the real model and a real knowledge base.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kaizen.llm.types import Completion, OnDelta, Prompt
from kaizen.retrieval.types import Chunk, KnowledgeBaseNotFound, MetadataValue, SearchHit, SearchMode

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = {"the", "a", "an", "of", "is", "what", "who", "when", "how", "in", "to", "and", "does", "do", "for"}


@dataclass
class Call:
    prompt: str
    max_new_tokens: int
    temperature: float
    stop: list[str] | None
    adapter: str | None
    seed: int | None


Rule = tuple[str, str | Callable[[str], str]]


@dataclass
class ScriptedLLM:
    """Answers with the first rule whose marker occurs in the prompt's last section (after the last blank line).

    Matching the last section, not the whole prompt, is what keeps few-shot examples inside the prompt from
    triggering rules meant for the real question.
    """

    rules: list[Rule] = field(default_factory=list)
    default: str = ""
    adapter_version: str | None = "base"
    calls: list[Call] = field(default_factory=list)
    fail_on: str | None = None

    async def generate(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        adapter: str | None = None,
        seed: int | None = None,
        on_delta: OnDelta | None = None,
    ) -> Completion:
        text = prompt if isinstance(prompt, str) else "\n".join(m.content for m in prompt)
        self.calls.append(Call(text, max_new_tokens, temperature, stop, adapter, seed))
        tail = text.rsplit("\n\n", 1)[-1]
        if self.fail_on is not None and self.fail_on in tail:
            raise RuntimeError("scripted model failure")
        output = self.default
        for marker, response in self.rules:
            if marker in tail:
                output = response(tail) if callable(response) else response
                break
        for s in stop or []:
            if s in output:
                output = output[: output.index(s)]
        if on_delta is not None:
            # Word-sized pieces, as the engine hands over its decoded tokens.
            for piece in re.findall(r"\s*\S+", output) or [output]:
                on_delta(piece)
        return Completion(text=output, adapter_version=adapter or self.adapter_version)


def _terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


@dataclass
class InMemoryRetriever:
    """Keyword-overlap search over chunks held in memory, with the Retriever protocol's signature."""

    chunks: list[Chunk] = field(default_factory=list)
    queries: list[tuple[str, list[str]]] = field(default_factory=list)

    async def search(
        self,
        query: str,
        *,
        tenant: str,
        knowledge_bases: list[str],
        mode: SearchMode = "hybrid",
        top_k: int = 5,
        alpha: float = 0.5,
        filters: dict[str, MetadataValue] | None = None,
        optional_knowledge_bases: Sequence[str] = (),
    ) -> list[SearchHit]:
        self.queries.append((query, list(knowledge_bases)))
        known = {c.knowledge_base for c in self.chunks if c.tenant == tenant}
        for kb in knowledge_bases:
            if kb not in known:
                raise KnowledgeBaseNotFound(f"knowledge base {kb!r} does not exist for tenant {tenant!r}")
        knowledge_bases = [*knowledge_bases, *(kb for kb in optional_knowledge_bases if kb in known)]
        terms = set(_terms(query))
        scored = []
        for chunk in self.chunks:
            if chunk.tenant != tenant or chunk.knowledge_base not in knowledge_bases:
                continue
            overlap = len(terms & set(_terms(f"{chunk.title} {chunk.text}")))
            if overlap:
                scored.append((overlap / (len(terms) or 1), chunk))
        scored.sort(key=lambda pair: -pair[0])
        return [SearchHit(chunk=c, score=s, rank=i) for i, (s, c) in enumerate(scored[:top_k])]

    async def random_chunks(
        self, *, tenant: str, knowledge_base: str, n: int, exclude: set[str] | None = None, seed: int = 0
    ) -> list[Chunk]:
        pool = [c for c in self.chunks if c.knowledge_base == knowledge_base and c.chunk_id not in (exclude or ())]
        return pool[:n]


def hashing_embed(texts: list[str], dimension: int = 256) -> np.ndarray:
    """Bag-of-words vectors by feature hashing: similar wording gives similar vectors, deterministically."""
    out = np.zeros((len(texts), dimension), dtype=np.float32)
    for row, text in enumerate(texts):
        for term in _terms(text):
            out[row, int(hashlib.md5(term.encode()).hexdigest(), 16) % dimension] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.clip(norms, 1e-12, None)


def chunk(chunk_id: str, text: str, *, kb: str = "handbook", title: str = "", tenant: str = "default") -> Chunk:
    document_id = chunk_id.split("#")[0]
    return Chunk(chunk_id=chunk_id, document_id=document_id, knowledge_base=kb, tenant=tenant, title=title, text=text)
