"""LanceDB's metadata cache is capped: every write is a table version whose manifest it would otherwise keep."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kaizen.config import Settings
from kaizen.retrieval.factory import make_store
from kaizen.retrieval.lancedb_store import LanceDBStore
from kaizen.retrieval.types import Chunk
from tests.fixtures.retrieval import DIM

MB = 1024 * 1024


def _write(store: LanceDBStore, documents: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(documents):
        chunks = [
            Chunk(
                chunk_id=f"d{i}#{j}",
                document_id=f"d{i}",
                knowledge_base="kb",
                text=f"answer {i} {j} " * 20,
                position=j,
                content_hash=f"h{i}",
            )
            for j in range(3)
        ]
        store.document_hash(tenant="default", knowledge_base="kb", document_id=f"d{i}")  # as the indexer does
        store.upsert_document(chunks, rng.standard_normal((3, DIM)).astype(np.float32))


def test_metadata_cache_stays_under_its_cap_as_versions_accumulate(tmp_path: Path) -> None:
    # Under LanceDB's default cap (1 GiB) 120 writes cache ~13 MB of manifests, and it keeps growing.
    store = LanceDBStore(tmp_path / "db", dimension=DIM, metadata_cache_mb=2)
    _write(store, 120)
    table = store._table("kb")
    assert table is not None and table.version > 120
    assert store.session.size_bytes <= 3 * MB  # eviction is approximate; uncapped: ~13 MB
    assert len(store.get_chunks(tenant="default", knowledge_base="kb", chunk_ids=["d7#1"])) == 1


def test_the_cap_comes_from_settings(tmp_path: Path) -> None:
    store = make_store(Settings(data_dir=tmp_path, vector_metadata_cache_mb=3), dimension=DIM)
    assert isinstance(store, LanceDBStore)
    _write(store, 40)
    assert 0 < store.session.size_bytes <= 4.5 * MB
