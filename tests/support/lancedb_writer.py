"""A second process that creates knowledge bases in a LanceDB store, for the cross-process table tests."""

from __future__ import annotations

from pathlib import Path

from kaizen.retrieval.lancedb_store import LanceDBStore
from tests.fixtures.retrieval import DIM, make_chunks


def create_knowledge_bases(path: str, names: list[str], document_id: str = "doc") -> None:
    store = LanceDBStore(Path(path), dimension=DIM)
    try:
        for name in names:
            chunks, vectors = make_chunks([f"{name} holds one chunk"], document_id=document_id, knowledge_base=name)
            store.upsert_document(chunks, vectors)
    finally:
        store.close()
