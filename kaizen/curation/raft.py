"""RAFT examples (Zhang et al. 2024, "RAFT: Adapting Language Model to Domain Specific RAG").

Each example holds the question, the oracle chunk(s) plus k distractor chunks — with probability 1-P the oracle
is left out so the model also learns to answer from memory — and a chain-of-thought answer that quotes the
oracle between ``##begin_quote##`` and ``##end_quote##`` and ends with the final answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import Feedback, InteractionResponse, RaftDocument, RaftExample
from kaizen.retrieval.types import Chunk, KnowledgeBaseNotFound

BEGIN_QUOTE = "##begin_quote##"
END_QUOTE = "##end_quote##"
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")
_WORDS = re.compile(r"\w+", re.UNICODE)


class RaftConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    oracle_probability: float = Field(0.8, ge=0.0, le=1.0, description="P: share of examples keeping the oracle.")
    distractors: int = Field(3, ge=0, le=20, description="k: distractor chunks per example.")
    chain_of_thought: bool = Field(
        False, description="The answer quotes the oracle before the final answer (RAFT's CoT); else the answer alone."
    )


@runtime_checkable
class ChunkLookup(Protocol):
    """Chunk texts by id and by document (the retrieval VectorStore has these methods)."""

    def get_chunks(self, *, tenant: str, knowledge_base: str, chunk_ids: Sequence[str]) -> list[Chunk]: ...

    def document_chunks(self, *, tenant: str, knowledge_base: str, document_id: str) -> list[Chunk]: ...

    def knowledge_bases(self, *, tenant: str) -> list[str]: ...


@runtime_checkable
class DistractorSource(Protocol):
    """Random chunks of one knowledge base (the retrieval VectorStore has this method)."""

    def random_chunks(
        self, *, tenant: str, knowledge_base: str, n: int, exclude: set[str] | None = None, seed: int = 0
    ) -> list[Chunk]: ...


def keeps_oracle(example_id: str, probability: float) -> bool:
    """Deterministic per example: a replay makes the same choice."""
    draw = int.from_bytes(hashlib.sha256(f"oracle:{example_id}".encode()).digest()[:8], "big") / 2**64
    return draw < probability


def seed_of(example_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"seed:{example_id}".encode()).digest()[:8], "big")


def document_of(chunk_id: str) -> str:
    return chunk_id.rsplit("#", 1)[0]


def pick_quote(text: str, answer: str, preferred: str = "") -> str:
    """The cited quote when the oracle holds it, else the oracle sentence sharing most words with the answer."""
    if preferred.strip() and preferred.strip() in text:
        return preferred.strip()
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    if not sentences:
        return text.strip()
    wanted = {w.casefold() for w in _WORDS.findall(answer)}
    return max(sentences, key=lambda s: len(wanted & {w.casefold() for w in _WORDS.findall(s)}))


def holds_answer(text: str, answer: str) -> bool:
    """The answer's words, in order, are in the text (case, punctuation and spacing aside)."""
    wanted = " ".join(_WORDS.findall(answer.casefold()))
    return bool(wanted) and wanted in " ".join(_WORDS.findall(text.casefold()))


def answering_chunks(chunks: Sequence[Chunk], answer: str) -> list[Chunk]:
    """The chunks of a named document that hold the answer; else the one sharing most words with it."""
    holding = [c for c in chunks if holds_answer(c.text, answer)]
    if holding or not chunks:
        return holding
    words = set(_WORDS.findall(answer.casefold()))
    return [max(chunks, key=lambda c: len(words & set(_WORDS.findall(c.text.casefold()))))]


def chain_of_thought(oracles: Sequence[RaftDocument], quotes: Sequence[str], final_answer: str) -> str:
    parts = ["##Reason:"]
    for doc, quote in zip(oracles, quotes, strict=True):
        source = f'The document "{doc.title}"' if doc.title else "The context"
        parts.append(f"{source} states {BEGIN_QUOTE}{quote}{END_QUOTE}.")
    parts.append("These passages answer the question directly.")
    return " ".join(parts) + f"\n##Answer: {final_answer}"


class RaftBuilder:
    """Builds one RAFT example from a curated (already scrubbed) response; ``scrub`` cleans chunk texts."""

    def __init__(
        self,
        config: RaftConfig,
        *,
        scrub: Callable[[str], tuple[str, dict[str, int]]],
        lookup: ChunkLookup | None = None,
        distractor_source: DistractorSource | None = None,
    ) -> None:
        self.config = config
        self._scrub = scrub
        self._lookup = lookup
        self._distractors = distractor_source

    @property
    def reads_store(self) -> bool:
        """True when building an example may read a chunk store (blocking I/O)."""
        return self._lookup is not None or self._distractors is not None

    def build(
        self, response: InteractionResponse, fb: Feedback, final_answer: str, example_id: Callable[[], uuid.UUID]
    ) -> tuple[RaftExample | None, str, dict[str, int]]:
        """(example, reason when None, PII counts of the chunk texts)."""
        pii: dict[str, int] = {}

        def clean(text: str) -> str:
            cleaned, counts = self._scrub(text)
            for k, v in counts.items():
                pii[k] = pii.get(k, 0) + v
            return cleaned

        oracle_ids = self._oracle_ids(response, fb)
        # Retrieved chunk ids carry no knowledge base: take the oracle's citation, else any citation's.
        cited_kbs = [c.knowledge_base for c in response.citations if c.chunk_id in oracle_ids]
        kb = next(iter(cited_kbs + [c.knowledge_base for c in response.citations]), "")
        texts: dict[str, tuple[str, str]] = {}
        if fb.source_document_ids:
            # A named source is the oracle even where the response never saw it (a closed-book answer, or a
            # retrieval miss); of its chunks, those that hold the answer.
            found_kb, named = self._named_chunks(response, fb.source_document_ids, final_answer, kb)
            if named:
                kb, oracle_ids = found_kb, [c.chunk_id for c in named]
                texts = {c.chunk_id: (c.title, c.text) for c in named}
        texts = self._texts(response, kb, oracle_ids + response.retrieved_chunk_ids) | texts
        if fb.correction and not fb.source_document_ids:
            # A correction's citations are the wrong answer's: only a chunk the response saw that holds the correct
            # answer is its oracle (teaching a quote that does not hold the answer would teach making one up).
            seen = dict.fromkeys(oracle_ids + response.retrieved_chunk_ids)
            oracle_ids = [cid for cid in seen if cid in texts and holds_answer(texts[cid][1], final_answer)]
        if not oracle_ids:
            return None, "raft_no_oracle", pii
        oracles = [self._document(cid, texts, clean, oracle=True) for cid in oracle_ids if cid in texts]
        if not oracles:
            return None, "raft_oracle_text_unavailable", pii
        eid_uuid = example_id()  # derived only for responses that can make a RAFT example at all
        eid = str(eid_uuid)
        seed = seed_of(eid)
        distractors = self._pick_distractors(response, kb, set(oracle_ids), texts, clean, seed)
        include = keeps_oracle(eid, self.config.oracle_probability)
        documents = (oracles if include else []) + distractors
        if not documents:
            return None, "raft_no_distractors", pii
        random.Random(seed).shuffle(documents)
        quotes_by_chunk = {c.chunk_id: c.quote for c in response.citations}
        quotes = [pick_quote(d.text, final_answer, quotes_by_chunk.get(d.chunk_id, "")) for d in oracles]
        example = RaftExample(
            event_id=uuid.uuid5(eid_uuid, "event"),
            created_at=fb.created_at,
            tenant=response.tenant,
            example_id=eid,
            feedback_id=fb.event_id,
            question=response.question,
            documents=documents,
            oracle_included=include,
            answer=chain_of_thought(oracles, quotes, final_answer) if self.config.chain_of_thought else final_answer,
            final_answer=final_answer,
            knowledge_base=kb,
        )
        return example, "", pii

    def _oracle_ids(self, response: InteractionResponse, fb: Feedback) -> list[str]:
        if fb.source_document_ids:
            named = set(fb.source_document_ids)
            seen = [c.chunk_id for c in response.citations] + response.retrieved_chunk_ids
            return [cid for cid in dict.fromkeys(seen) if document_of(cid) in named]
        return list(dict.fromkeys(c.chunk_id for c in response.citations))

    def _named_chunks(
        self, response: InteractionResponse, document_ids: Sequence[str], answer: str, cited_kb: str
    ) -> tuple[str, list[Chunk]]:
        """(knowledge base, oracle chunks) of the first named document found in the store; no chunks if none is."""
        if self._lookup is None:
            return cited_kb, []
        kbs = [kb for kb in dict.fromkeys([cited_kb, *self._lookup.knowledge_bases(tenant=response.tenant)]) if kb]
        for document_id in document_ids:
            for kb in kbs:
                try:
                    chunks = self._lookup.document_chunks(
                        tenant=response.tenant, knowledge_base=kb, document_id=document_id
                    )
                except KnowledgeBaseNotFound:
                    continue
                if chunks:
                    return kb, answering_chunks(chunks, answer)
        return cited_kb, []

    def _texts(self, response: InteractionResponse, kb: str, chunk_ids: list[str]) -> dict[str, tuple[str, str]]:
        """chunk_id -> (title, text): the chunk store when there is one, the citation quotes otherwise."""
        found: dict[str, tuple[str, str]] = {}
        if self._lookup is not None and kb:
            # A knowledge base this store does not hold (another backend's, or deleted): the quotes remain.
            with contextlib.suppress(KnowledgeBaseNotFound):
                for chunk in self._lookup.get_chunks(tenant=response.tenant, knowledge_base=kb, chunk_ids=chunk_ids):
                    found[chunk.chunk_id] = (chunk.title, chunk.text)
        for c in response.citations:
            if c.chunk_id not in found and c.quote.strip():
                found[c.chunk_id] = (c.title, c.quote)
        return found

    def _document(
        self, chunk_id: str, texts: dict[str, tuple[str, str]], clean: Callable[[str], str], *, oracle: bool
    ) -> RaftDocument:
        title, text = texts[chunk_id]
        return RaftDocument(
            chunk_id=chunk_id, document_id=document_of(chunk_id), title=clean(title), text=clean(text), oracle=oracle
        )

    def _pick_distractors(
        self,
        response: InteractionResponse,
        kb: str,
        oracle_ids: set[str],
        texts: dict[str, tuple[str, str]],
        clean: Callable[[str], str],
        seed: int,
    ) -> list[RaftDocument]:
        k = self.config.distractors
        retrieved = [c.chunk_id for c in response.citations] + response.retrieved_chunk_ids
        chosen = [
            self._document(cid, texts, clean, oracle=False)
            for cid in dict.fromkeys(retrieved)
            if cid not in oracle_ids and cid in texts
        ][:k]
        if len(chosen) < k and self._distractors is not None and kb:
            exclude = oracle_ids | {d.chunk_id for d in chosen}
            try:
                extra = self._distractors.random_chunks(
                    tenant=response.tenant, knowledge_base=kb, n=k - len(chosen), exclude=exclude, seed=seed
                )
            except KnowledgeBaseNotFound:
                extra = []
            for chunk in extra:
                texts[chunk.chunk_id] = (chunk.title, chunk.text)
                chosen.append(self._document(chunk.chunk_id, texts, clean, oracle=False))
        return chosen
