"""LanceDB's in-memory vector copy: same answers as LanceDB, never stale after a write, bounded by size."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from kaizen.retrieval.lancedb_store import LanceDBStore
from kaizen.retrieval.types import KnowledgeBaseNotFound
from tests.fixtures.retrieval import DIM, make_chunks, word_vectors

TEXTS = [f"note {i} about topic{i % 7} and item{i}" for i in range(120)]


def _fill(store: LanceDBStore, kb: str) -> None:
    for start in range(0, len(TEXTS), 30):
        tenant = "acme" if start < 60 else "globex"
        chunks, vectors = make_chunks(
            TEXTS[start : start + 30], document_id=f"doc{start}", knowledge_base=kb, tenant=tenant
        )
        store.upsert_document(chunks, vectors)


def _vector(store: LanceDBStore, kb: str, tenant: str, text: str, k: int = 8) -> list[tuple[str, float]]:
    hits = store.search(tenant=tenant, knowledge_base=kb, mode="vector", vector=word_vectors([text])[0], top_k=k)
    return [(h.chunk.chunk_id, h.score) for h in hits]


def _wait_resident(store: LanceDBStore, kb: str) -> None:
    table = store._table(kb)
    assert table is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        snapshot = store.resident._snapshots.get(kb)
        if snapshot is not None and snapshot.version == table.version:
            return
        time.sleep(0.02)
    raise AssertionError("the background load never finished")


def test_resident_answers_equal_lancedb_and_keep_tenants_apart(tmp_path: Path) -> None:
    plain = LanceDBStore(tmp_path / "db", dimension=DIM)
    _fill(plain, "kb")
    resident = LanceDBStore(tmp_path / "db", dimension=DIM, resident_max_rows=1_000)
    assert resident.load_resident("kb") > 0
    for text in (TEXTS[3], TEXTS[77], "topic4 item9"):
        for tenant in ("acme", "globex"):
            want, got = _vector(plain, "kb", tenant, text), _vector(resident, "kb", tenant, text)
            # Same scores in the same order; among equal scores the order of ids may differ.
            assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
            every = dict(_vector(plain, "kb", tenant, text, k=60))
            assert all(abs(every[c] - score) < 1e-5 for c, score in got)
            owner = "acme" if tenant == "acme" else "globex"
            assert all(h.chunk.tenant == owner for h in resident.search(
                tenant=tenant, knowledge_base="kb", mode="vector", vector=word_vectors([text])[0]))  # fmt: skip
    # A tenant without rows in this table still gets the missing-knowledge-base error, not an empty list.
    with pytest.raises(KnowledgeBaseNotFound):
        _vector(resident, "kb", "initech", TEXTS[0])


def test_a_write_is_seen_at_once_and_the_copy_reloads_in_the_background(tmp_path: Path) -> None:
    store = LanceDBStore(tmp_path / "db", dimension=DIM, resident_max_rows=1_000, read_consistency=timedelta(0))
    _fill(store, "kb")
    _vector(store, "kb", "acme", TEXTS[5])  # first query: answered by LanceDB, starts the load
    _wait_resident(store, "kb")
    assert _vector(store, "kb", "acme", TEXTS[5])[0][0] == "doc0#5"
    store.delete_document(tenant="acme", knowledge_base="kb", document_id="doc0")
    # The copy still holds doc0, but its version is old: the answer must come from LanceDB, without doc0.
    assert all(not c.startswith("doc0#") for c, _ in _vector(store, "kb", "acme", TEXTS[5], k=40))
    _wait_resident(store, "kb")
    assert all(not c.startswith("doc0#") for c, _ in _vector(store, "kb", "acme", TEXTS[5], k=40))


def test_tables_over_the_limit_stay_in_lancedb(tmp_path: Path) -> None:
    store = LanceDBStore(tmp_path / "db", dimension=DIM, resident_max_rows=50)
    _fill(store, "kb")
    assert store.load_resident("kb") == 0
    assert _vector(store, "kb", "acme", TEXTS[5])[0][0] == "doc0#5"
    assert "kb" not in store.resident._snapshots
    # The oversized version is remembered: later queries neither count nor load it again until it moves.
    loads: list[str] = []
    store.resident._executor = type("Recording", (), {"submit": lambda _self, fn, *a: loads.append(a[0])})()
    for _ in range(3):
        _vector(store, "kb", "acme", TEXTS[5])
    assert loads == []
    store.delete_document(tenant="acme", knowledge_base="kb", document_id="doc0")
    store.resident.max_rows = 1_000
    _vector(store, "kb", "globex", TEXTS[70])
    assert loads == ["kb"]  # the version moved: one load is started
    assert LanceDBStore(tmp_path / "db", dimension=DIM).load_resident("kb") == 0  # disabled by default
