"""LanceDB backend: embedded, on disk; one table per knowledge base, tenants as a BITMAP-indexed column."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.table import Table

from kaizen.retrieval.chunking import embedding_text
from kaizen.retrieval.lancedb_queries import keyword_rows, native_hybrid_rows, to_hits, vector_rows
from kaizen.retrieval.lancedb_resident import ResidentVectors, Snapshot
from kaizen.retrieval.lancedb_schema import CHUNK_COLUMNS, quote, row_to_chunk, schema, where_clause
from kaizen.retrieval.store import (
    HYBRID_OVERFETCH,
    FusionMethod,
    UpsertResult,
    VectorStore,
    check_chunks,
    check_knowledge_base,
    check_tenant,
    fuse_hits,
    metadata_tags,
    not_found,
)
from kaizen.retrieval.types import Chunk, MetadataValue, SearchHit

log = logging.getLogger(__name__)
HybridEngine = Literal["fused", "native"]
COMMIT_ATTEMPTS = 5


class LanceDBStore(VectorStore):
    def __init__(
        self,
        path: Path | str,
        *,
        dimension: int,
        read_consistency: timedelta = timedelta(seconds=1),
        ann_min_rows: int = 0,
        resident_max_rows: int = 0,
        resident_inline: bool = False,
        hybrid_engine: HybridEngine = "fused",
        metadata_cache_mb: int = 32,
    ) -> None:
        """``ann_min_rows``: build an HNSW index on tables that reach this many rows in ``optimize`` (0 = never).

        ``resident_max_rows``: tables up to this size answer vector queries from an in-memory copy of their
        current version (lancedb_resident.py; 0 = never); ``resident_inline`` loads a new version before
        answering rather than in the background.

        ``hybrid_engine``: "fused" runs the vector and keyword queries and fuses them here (relative-score
        fusion weighted by alpha, as Weaviate does, or RRF); "native" uses LanceDB's hybrid query with its
        LinearCombinationReranker / RRFReranker. bench/retrieval.py measures both. "fused" is the default: the
        native path min-max normalises a single keyword hit to 0, so alpha=0 cannot rank it first.

        ``metadata_cache_mb``: LanceDB caches the manifest of every table version it reads, and each write is a
        new version: under its default 1 GiB cap an indexer grew ~0.15 MB per write, with no plateau in sight
        (bench/_memory_growth.py). Old versions' entries are never read again, so a small cap costs nothing.
        """
        self.hybrid_engine = hybrid_engine
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.dimension = dimension
        self.ann_min_rows = ann_min_rows
        # Other processes (the indexer service) write too: re-check the table version at most this often.
        self.session = lancedb.Session(metadata_cache_size_bytes=metadata_cache_mb * 1024 * 1024)
        self.db = lancedb.connect(self.path, read_consistency_interval=read_consistency, session=self.session)
        self._tables: dict[str, Table] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lancedb-search")
        self.resident = ResidentVectors(resident_max_rows, self._pool, inline=resident_inline)

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    # --- tables ------------------------------------------------------------------------------------
    def _table(self, knowledge_base: str, *, create: bool = False) -> Table | None:
        check_knowledge_base(knowledge_base)
        with self._lock:
            table = self._tables.get(knowledge_base)
            if table is not None:
                return table
            table = self._open(knowledge_base)
            if table is None and create:
                table = self._create(knowledge_base)
            if table is None:
                return None
            self._tables[knowledge_base] = table
            return table

    def _open(self, knowledge_base: str) -> Table | None:
        """The table, or None while it does not exist.

        Another process (the indexer) may be creating it: its directory, and so its name in ``list_tables``,
        appears before its first version is committed, and until then ``open_table`` raises "not found". A
        table that cannot be opened yet does not exist yet, whatever the listing says.
        """
        try:
            return self.db.open_table(knowledge_base)
        except ValueError as error:
            if "was not found" not in str(error):
                raise
            return None

    def _create(self, knowledge_base: str) -> Table:
        try:
            return self.db.create_table(knowledge_base, schema=schema(self.dimension), exist_ok=True)
        except (ValueError, OSError, RuntimeError):
            # Another process committed the same table first: open the one that won.
            table = self._open(knowledge_base)
            if table is None:
                raise
            return table

    def _names(self) -> list[str]:
        names: list[str] = []
        token = None
        while True:
            page = self.db.list_tables(page_token=token)
            names.extend(page.tables)
            token = page.page_token
            if not token:
                return names

    def _readable(self, tenant: str, knowledge_base: str) -> Table:
        check_tenant(tenant)
        table = self._table(knowledge_base)
        if table is None or table.count_rows(f"tenant = {quote(tenant)}") == 0:
            raise not_found(tenant, knowledge_base)
        return table

    def _searchable(self, tenant: str, knowledge_base: str) -> Table:
        """The table, unchecked: a search with hits proves the tenant has it, so only empty results check."""
        table = self._table(knowledge_base)
        if table is None:
            raise not_found(tenant, knowledge_base)
        return table

    def _checked(self, hits: list[SearchHit], tenant: str, knowledge_base: str) -> list[SearchHit]:
        if not hits:
            self._readable(tenant, knowledge_base)
        return hits

    def _ensure_indexes(self, table: Table) -> None:
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                return self._create_missing_indexes(table)
            except RuntimeError as error:
                # Two processes indexing one table: one commit wins, the other sees the winner's index on retry.
                if "Retryable commit conflict" not in str(error) or attempt == COMMIT_ATTEMPTS - 1:
                    raise
                table.checkout_latest()

    def _create_missing_indexes(self, table: Table) -> None:
        existing = {tuple(index.columns) for index in table.list_indices()}
        if ("tenant",) not in existing:
            table.create_scalar_index("tenant", index_type="BITMAP")
        if ("document_id",) not in existing:
            table.create_scalar_index("document_id", index_type="BTREE")
        if ("meta_tags",) not in existing:
            table.create_scalar_index("meta_tags", index_type="LABEL_LIST")
        if ("search_text",) not in existing:
            table.create_fts_index("search_text", with_position=False)

    def load_resident(self, knowledge_base: str) -> int:
        """Load the knowledge base's vectors into memory now (queries otherwise load them in the background).

        Returns the bytes held, 0 when the table is over ``resident_max_rows`` or missing."""
        table = self._table(knowledge_base)
        snapshot = self.resident.load(knowledge_base, table) if table is not None else None
        return snapshot.nbytes if snapshot is not None else 0

    def optimize(self) -> None:
        """Fold new rows into the indexes and compact small writes (call after a batch of upserts)."""
        for name in self._names():
            table = self._table(name)
            if table is None:
                continue
            self._ensure_indexes(table)
            wants_ann = self.ann_min_rows and table.count_rows() >= self.ann_min_rows
            if wants_ann and not any(tuple(i.columns) == ("vector",) for i in table.list_indices()):
                table.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ")
            table.optimize()

    # --- writes ------------------------------------------------------------------------------------
    def document_hash(self, *, tenant: str, knowledge_base: str, document_id: str) -> str | None:
        return self._hashes(tenant, knowledge_base, [document_id]).get(document_id)

    def _hashes(self, tenant: str, knowledge_base: str, document_ids: Sequence[str]) -> dict[str, str]:
        table = self._table(knowledge_base)
        if table is None or not document_ids:
            return {}
        ids = ", ".join(quote(d) for d in document_ids)
        rows = (
            table.search()
            .where(where_clause(tenant, [], f"document_id IN ({ids}) AND position = 0"))
            .select(["document_id", "content_hash"])
            .limit(len(document_ids) * 4 + 10)
            .to_arrow()
            .to_pylist()
        )
        return {row["document_id"]: row["content_hash"] for row in rows}

    def upsert_documents(self, documents: Sequence[tuple[Sequence[Chunk], np.ndarray]]) -> list[UpsertResult]:
        """Many documents in one commit; each is a no-op, an insert or a replacement of its old chunks."""
        firsts = [check_chunks(chunks, vectors) for chunks, vectors in documents]
        results: list[UpsertResult] = []
        groups: dict[tuple[str, str], list[int]] = {}
        for i, first in enumerate(firsts):
            groups.setdefault((first.tenant, first.knowledge_base), []).append(i)
        outcome: dict[int, UpsertResult] = {}
        for (tenant, knowledge_base), members in groups.items():
            outcome |= self._upsert_group(tenant, knowledge_base, [documents[i] for i in members], members)
        results = [outcome[i] for i in range(len(documents))]
        return results

    def upsert_document(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> UpsertResult:
        return self.upsert_documents([(chunks, vectors)])[0]

    def _upsert_group(
        self,
        tenant: str,
        knowledge_base: str,
        documents: Sequence[tuple[Sequence[Chunk], np.ndarray]],
        members: list[int],
    ) -> dict[int, UpsertResult]:
        table = self._table(knowledge_base, create=True)
        assert table is not None
        stored = self._hashes(tenant, knowledge_base, [chunks[0].document_id for chunks, _ in documents])
        outcome: dict[int, UpsertResult] = {}
        changed: list[tuple[Sequence[Chunk], np.ndarray]] = []
        # Later versions of a document in the same batch win.
        latest = {chunks[0].document_id: i for i, (chunks, _) in enumerate(documents)}
        for i, (chunks, vectors) in enumerate(documents):
            doc_id, new_hash = chunks[0].document_id, chunks[0].content_hash
            if stored.get(doc_id) == new_hash or latest[doc_id] != i:
                status = "unchanged"
            else:
                status = "replaced" if doc_id in stored else "inserted"
                changed.append((chunks, vectors))
            outcome[members[i]] = UpsertResult(document_id=doc_id, status=status, chunks=len(chunks))
        if changed:
            self._replace(table, tenant, changed)
        return outcome

    def _replace(self, table: Table, tenant: str, documents: Sequence[tuple[Sequence[Chunk], np.ndarray]]) -> None:
        rows = self._arrow(tenant, documents)
        ids = ", ".join(quote(chunks[0].document_id) for chunks, _ in documents)
        # One commit: readers never see a document half-replaced; stale chunks of these documents go.
        (
            table.merge_insert(["tenant", "chunk_id"])
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(f"tenant = {quote(tenant)} AND document_id IN ({ids})")
            .execute(rows)
        )
        if len(table.list_indices()) < 4:
            self._ensure_indexes(table)

    def _arrow(self, tenant: str, documents: Sequence[tuple[Sequence[Chunk], np.ndarray]]) -> pa.Table:
        chunks = [chunk for doc, _ in documents for chunk in doc]
        vectors = np.concatenate([np.asarray(v, dtype=np.float32) for _, v in documents])
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions, this store holds {self.dimension}")
        columns: dict[str, Any] = {name: [getattr(c, name) for c in chunks] for name in CHUNK_COLUMNS[:-1]}
        columns["tenant"] = [tenant] * len(chunks)
        columns["metadata"] = [json.dumps(c.metadata, sort_keys=True) for c in chunks]
        columns["search_text"] = [embedding_text(c) for c in chunks]
        columns["meta_tags"] = [metadata_tags(c.metadata) for c in chunks]
        columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), self.dimension)
        return pa.Table.from_pydict(columns, schema=schema(self.dimension))

    def delete_document(self, *, tenant: str, knowledge_base: str, document_id: str) -> int:
        check_tenant(tenant)
        table = self._table(knowledge_base)
        if table is None:
            return 0
        where = where_clause(tenant, [], f"document_id = {quote(document_id)}")
        removed = table.count_rows(where)
        if removed:
            table.delete(where)
        return removed

    # --- reads -------------------------------------------------------------------------------------
    def count(self, *, tenant: str, knowledge_base: str, filters: dict[str, MetadataValue] | None = None) -> int:
        table = self._readable(tenant, knowledge_base)
        return table.count_rows(where_clause(tenant, metadata_tags(filters or {})))

    def document_count(self, *, tenant: str, knowledge_base: str) -> int:
        table = self._readable(tenant, knowledge_base)
        where = where_clause(tenant, [])
        rows = table.search().where(where).select(["document_id"]).limit(table.count_rows(where) or 1)
        return len(set(rows.to_arrow()["document_id"].to_pylist()))

    def knowledge_bases(self, *, tenant: str) -> list[str]:
        check_tenant(tenant)
        names = []
        for name in sorted(self._names()):
            table = self._table(name)
            if table is not None and table.count_rows(f"tenant = {quote(tenant)}"):
                names.append(name)
        return names

    def random_chunks(
        self, *, tenant: str, knowledge_base: str, n: int, exclude: set[str] | None = None, seed: int = 0
    ) -> list[Chunk]:
        table = self._readable(tenant, knowledge_base)
        where = where_clause(tenant, [])
        total = table.count_rows(where)
        ids = table.search().where(where).select(["chunk_id"]).limit(total).to_arrow()["chunk_id"].to_pylist()
        candidates = sorted(set(ids) - (exclude or set()))
        picked = random.Random(seed).sample(candidates, min(n, len(candidates)))
        return self.get_chunks(tenant=tenant, knowledge_base=knowledge_base, chunk_ids=picked)

    def get_chunks(self, *, tenant: str, knowledge_base: str, chunk_ids: Sequence[str]) -> list[Chunk]:
        if not chunk_ids:
            return []
        in_list = ", ".join(quote(c) for c in chunk_ids)
        by_id = {c.chunk_id: c for c in self._chunks(tenant, knowledge_base, f"chunk_id IN ({in_list})")}
        return [by_id[c] for c in dict.fromkeys(chunk_ids) if c in by_id]

    def document_chunks(self, *, tenant: str, knowledge_base: str, document_id: str) -> list[Chunk]:
        chunks = self._chunks(tenant, knowledge_base, f"document_id = {quote(document_id)}")
        return sorted(chunks, key=lambda c: c.position)

    def _chunks(self, tenant: str, knowledge_base: str, condition: str) -> list[Chunk]:
        table = self._readable(tenant, knowledge_base)
        where = where_clause(tenant, [], condition)
        rows = table.search().where(where).select(CHUNK_COLUMNS).limit(table.count_rows(where) or 1)
        return [row_to_chunk(row, knowledge_base) for row in rows.to_arrow().to_pylist()]

    def _snapshot(self, table: Table, knowledge_base: str, tags: list[str]) -> Snapshot | None:
        # Tag filters stay in LanceDB's SQL; the in-memory copy answers tenant-filtered queries only.
        return None if tags else self.resident.snapshot_for(knowledge_base, table)

    def _vector_search(
        self,
        tenant: str,
        knowledge_base: str,
        vector: np.ndarray,
        top_k: int,
        tags: list[str],
        snapshot: Snapshot | Literal["resolve"] | None = "resolve",
    ) -> list[SearchHit]:
        table = self._searchable(tenant, knowledge_base)
        if snapshot == "resolve":
            snapshot = self._snapshot(table, knowledge_base, tags)
        if snapshot is not None:
            found = snapshot.search(tenant, vector, top_k)
            hits = [SearchHit(chunk=row_to_chunk(row, knowledge_base), score=score) for row, score in found]
        else:
            hits = to_hits(vector_rows(table, where_clause(tenant, tags), vector, top_k), knowledge_base, "_distance")
        return self._checked(hits, tenant, knowledge_base)

    def _keyword_search(
        self,
        tenant: str,
        knowledge_base: str,
        text: str,
        top_k: int,
        tags: list[str],
        snapshot: Snapshot | Literal["resolve"] | None = "resolve",
    ) -> list[SearchHit]:
        table = self._searchable(tenant, knowledge_base)
        if snapshot == "resolve":
            snapshot = self._snapshot(table, knowledge_base, tags)
        rows = keyword_rows(table, where_clause(tenant, tags), text, top_k, tenant, snapshot)
        return self._checked(to_hits(rows, knowledge_base, "_score"), tenant, knowledge_base)

    def _hybrid_search(
        self,
        tenant: str,
        knowledge_base: str,
        text: str,
        vector: np.ndarray,
        top_k: int,
        alpha: float,
        fusion: FusionMethod,
        tags: list[str],
    ) -> list[SearchHit]:
        if self.hybrid_engine == "native":
            table = self._readable(tenant, knowledge_base)
            rows = native_hybrid_rows(table, where_clause(tenant, tags), text, vector, top_k, alpha, fusion)
            return to_hits(rows, knowledge_base, "_relevance_score")
        depth = top_k * HYBRID_OVERFETCH
        # The version is checked once, before either side starts: LanceDB's synchronous calls share one event
        # loop thread, so a version check on the vector side would queue behind the running keyword query.
        snapshot = self._snapshot(self._searchable(tenant, knowledge_base), knowledge_base, tags)
        # Both sides at once, which overlaps them where cores are free (on 2 cores it measures close to the sum).
        keyword = self._pool.submit(self._keyword_search, tenant, knowledge_base, text, depth, tags, snapshot)
        by_vector = self._vector_search(tenant, knowledge_base, vector, depth, tags, snapshot)
        by_keyword = keyword.result()
        return fuse_hits(by_vector, by_keyword, top_k=top_k, alpha=alpha, fusion=fusion)
