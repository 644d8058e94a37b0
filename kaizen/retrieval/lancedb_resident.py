"""Exact vector search over a LanceDB table version held in memory.

LanceDB's flat scan costs ~27 ms at 20k rows on this CPU (bench/retrieval.py), most of it query planning and
Arrow materialisation rather than arithmetic: the same cosine scores in numpy take ~3 ms. Knowledge bases of this
size are the common case, so a table under ``max_rows`` keeps its vectors and chunk columns in memory and answers
vector queries from there; larger tables use LanceDB's ANN index.

A snapshot is valid for exactly one table version. When the version moves (the indexer wrote or deleted), queries
go back to LanceDB itself — always correct — while one background rebuild loads the new version, so a write never
makes a search see deleted chunks or wait for a reload.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor

import numpy as np
import pyarrow as pa
from lancedb.table import Table

from kaizen.retrieval.lancedb_schema import CHUNK_COLUMNS

log = logging.getLogger(__name__)


class Snapshot:
    """One table version: unit vectors, chunk columns and the rows of each tenant."""

    def __init__(self, version: int, rows: pa.Table) -> None:
        self.version = version
        vectors = rows.column("vector").combine_chunks()
        matrix = vectors.values.to_numpy(zero_copy_only=False).reshape(len(rows), -1).astype(np.float32, copy=True)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        self.matrix = matrix
        # One contiguous chunk per column: ``take`` on a table of many fragments costs ~6 ms per query.
        self.columns = rows.select(CHUNK_COLUMNS).combine_chunks()
        tenants = np.asarray(rows.column("tenant").to_pylist(), dtype=object)
        self.rows_of = {t: np.flatnonzero(tenants == t) for t in set(tenants.tolist())}
        self.size = len(rows)
        # Chunk ids are unique within a tenant only: two tenants may index documents with the same id.
        ids = self.columns.column("chunk_id").to_pylist()
        self.index_of = {(tenant, chunk_id): i for i, (tenant, chunk_id) in enumerate(zip(tenants, ids, strict=True))}

    @property
    def nbytes(self) -> int:
        return self.matrix.nbytes + self.columns.nbytes

    def search(self, tenant: str, vector: np.ndarray, top_k: int) -> list[tuple[dict[str, object], float]]:
        rows = self.rows_of.get(tenant)
        if rows is None or not len(rows):
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        scores = self.matrix @ query
        if len(rows) < self.size:  # only this tenant's rows compete
            scores = scores[rows]
        k = min(top_k, len(rows))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        found = self.columns.take(pa.array(rows[best])).to_pylist()
        return [(row, float(scores[i])) for row, i in zip(found, best, strict=True)]

    def rows_by_id(self, tenant: str, chunk_ids: list[str]) -> list[dict[str, object]] | None:
        """The tenant's chunk columns of these ids, in order; None if one is not in this version (written since)."""
        try:
            positions = [self.index_of[(tenant, c)] for c in chunk_ids]
        except KeyError:
            return None
        return self.columns.take(pa.array(positions, type=pa.int64())).to_pylist() if positions else []


class ResidentVectors:
    """Snapshots per table, rebuilt in the background when the table version moves."""

    def __init__(self, max_rows: int, executor: Executor, *, inline: bool = False) -> None:
        """``inline``: load a moved version before answering instead of in the background (tests, batch jobs)."""
        self.max_rows = max_rows
        self.inline = inline
        self._executor = executor
        self._snapshots: dict[str, Snapshot] = {}
        self._building: set[str] = set()
        # Table versions found over max_rows: not counted and loaded again on every query, only when they move.
        self._too_large: dict[str, int] = {}
        self._lock = threading.Lock()

    def snapshot_for(self, name: str, table: Table) -> Snapshot | None:
        """The snapshot of the table's current version; None when the caller must ask LanceDB (the table is too
        large, or the version moved and a background load has been started)."""
        if not self.max_rows:
            return None
        version = table.version
        snapshot = self._snapshots.get(name)
        if snapshot is not None and snapshot.version == version:
            return snapshot
        if self._too_large.get(name) == version:
            return None
        if self.inline:
            return self.load(name, table)
        self._rebuild_later(name, table)
        return None

    def load(self, name: str, table: Table) -> Snapshot | None:
        """Load the table's current version now (None when it has more than ``max_rows`` rows)."""
        version = table.version
        if not self.max_rows or table.count_rows() > self.max_rows:
            with self._lock:
                self._snapshots.pop(name, None)
                self._too_large[name] = version
            return None
        # Read after the version: the rows are at least that new, and a write meanwhile moves the version on,
        # so the next query sees a mismatch and loads again.
        snapshot = Snapshot(version, table.to_arrow())
        with self._lock:
            self._snapshots[name] = snapshot
        log.debug("resident vectors for %s: v%d, %d rows, %.1f MB", name, version, len(snapshot.matrix),
                  snapshot.nbytes / 1e6)  # fmt: skip
        return snapshot

    def _rebuild_later(self, name: str, table: Table) -> None:
        with self._lock:
            if name in self._building:
                return
            self._building.add(name)
        self._executor.submit(self._rebuild, name, table)

    def _rebuild(self, name: str, table: Table) -> None:
        try:
            self.load(name, table)
        except Exception:  # a failed load only means LanceDB keeps answering
            log.exception("could not load resident vectors for %s", name)
        finally:
            with self._lock:
                self._building.discard(name)
