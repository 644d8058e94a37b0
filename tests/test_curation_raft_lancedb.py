"""RAFT distractors drawn from a real LanceDB knowledge base (the retrieval store's ``random_chunks``)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np

from kaizen.curation.pipeline import Curator, CuratorConfig
from kaizen.curation.raft import BEGIN_QUOTE, END_QUOTE, ChunkLookup, DistractorSource, RaftConfig
from kaizen.events import Citation, Feedback, InteractionResponse, Thumbs
from kaizen.retrieval.lancedb_store import LanceDBStore
from kaizen.retrieval.types import Chunk

DOCS = {
    "geo": ["Paris is the capital of France.", "Lyon is known for its food."],
    "rivers": ["The Seine flows through Paris.", "The Rhone flows through Lyon. Contact: ops@example.org"],
    "cheese": ["Brie comes from the Ile-de-France region.", "Comte is made in the Jura mountains."],
}


def _store(path: Path) -> LanceDBStore:
    store = LanceDBStore(path, dimension=4)
    rng = np.random.default_rng(0)
    for doc_id, texts in DOCS.items():
        digest = hashlib.sha256(" ".join(texts).encode()).hexdigest()
        chunks = [
            Chunk(
                chunk_id=f"{doc_id}#{i}",
                document_id=doc_id,
                knowledge_base="facts",
                tenant="acme",
                title=doc_id.title(),
                text=text,
                position=i,
                content_hash=digest,
            )
            for i, text in enumerate(texts)
        ]
        store.upsert_document(chunks, rng.random((len(chunks), 4), dtype=np.float32))
    return store


def _response(question: str, answer: str, strategy: str, **extra: object) -> InteractionResponse:
    request_id = uuid.uuid4()
    return InteractionResponse(
        tenant="acme",
        request_id=request_id,
        response_id=InteractionResponse.response_id_for(request_id),
        question=question,
        answer=answer,
        strategy=strategy,
        **extra,  # type: ignore[arg-type]
    )


def test_distractors_come_from_the_knowledge_base(tmp_path: Path) -> None:
    store = _store(tmp_path / "lancedb")
    assert isinstance(store, DistractorSource)
    config = CuratorConfig(raft=RaftConfig(oracle_probability=1.0, distractors=3, chain_of_thought=True))
    curator = Curator(config, distractor_source=store)
    resp = _response(
        "What is the capital of France?",
        "Paris is the capital of France.",
        "rag",
        citations=[Citation(document_id="geo", chunk_id="geo#0", knowledge_base="facts", quote=DOCS["geo"][0])],
        retrieved_chunk_ids=["geo#0"],
    )
    curator.add_response(resp)
    fb = Feedback(tenant="acme", response_id=resp.response_id, thumbs=Thumbs.up)
    raft = curator.add_feedback(fb).raft
    assert raft is not None and raft.oracle_included
    distractors = [d for d in raft.documents if not d.oracle]
    all_chunks = {f"{d}#{i}": t for d, texts in DOCS.items() for i, t in enumerate(texts)}
    assert len(distractors) == 3
    assert all(d.chunk_id in all_chunks and d.chunk_id != "geo#0" for d in distractors)
    assert all("ops@example.org" not in d.text for d in raft.documents)
    assert f"{BEGIN_QUOTE}{DOCS['geo'][0]}" in raft.answer
    # The same feedback draws the same distractors: replays are reproducible.
    again = Curator(config, distractor_source=store)
    again.add_response(resp)
    assert again.add_feedback(fb).raft == raft


def test_a_named_document_is_read_from_the_knowledge_base(tmp_path: Path) -> None:
    store = _store(tmp_path / "lancedb")
    assert isinstance(store, ChunkLookup)
    config = CuratorConfig(raft=RaftConfig(oracle_probability=1.0, distractors=2, chain_of_thought=True))
    curator = Curator(config, lookup=store, distractor_source=store)
    closed_book = _response("Where is Comte made?", "In Normandy.", "direct")
    curator.add_response(closed_book)
    fb = Feedback(
        tenant="acme",
        response_id=closed_book.response_id,
        thumbs=Thumbs.down,
        correction="the Jura mountains",
        source_document_ids=["cheese"],
    )
    raft = curator.add_feedback(fb).raft
    assert raft is not None and raft.knowledge_base == "facts"
    assert [(d.chunk_id, d.text) for d in raft.documents if d.oracle] == [("cheese#1", DOCS["cheese"][1])]
    assert len([d for d in raft.documents if not d.oracle]) == 2
    assert f"{BEGIN_QUOTE}{DOCS['cheese'][1]}{END_QUOTE}" in raft.answer


def test_a_knowledge_base_the_store_lacks_falls_back_to_the_citation_quotes(tmp_path: Path) -> None:
    store = _store(tmp_path / "lancedb")
    curator = Curator(
        CuratorConfig(raft=RaftConfig(oracle_probability=1.0, chain_of_thought=True)),
        lookup=store,
        distractor_source=store,
    )
    resp = _response(
        "What is the capital of France?",
        "Paris.",
        "rag",
        citations=[
            Citation(document_id="d", chunk_id="d#0", knowledge_base="elsewhere", quote="Paris is the capital.")
        ],
    )
    curator.add_response(resp)
    result = curator.add_feedback(Feedback(tenant="acme", response_id=resp.response_id, thumbs=Thumbs.up))
    assert result.instruction is not None and result.raft is not None
    assert [d.text for d in result.raft.documents] == ["Paris is the capital."]
