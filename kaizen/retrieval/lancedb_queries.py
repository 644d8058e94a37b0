"""The LanceDB queries behind a search: vector, BM25 keyword and native hybrid, as rows of chunk columns."""

from __future__ import annotations

from typing import Any

import numpy as np
from lancedb.rerankers import LinearCombinationReranker, RRFReranker
from lancedb.table import Table

from kaizen.retrieval.lancedb_resident import Snapshot
from kaizen.retrieval.lancedb_schema import CHUNK_COLUMNS, row_to_chunk
from kaizen.retrieval.store import FusionMethod
from kaizen.retrieval.types import SearchHit

# With an ANN index: re-rank this many times top_k candidates by exact distance (recall); no-op on a flat scan.
_REFINE_FACTOR = 4

Rows = list[dict[str, Any]]


def vector_rows(table: Table, where: str, vector: np.ndarray, top_k: int) -> Rows:
    return (
        table.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector")
        .distance_type("cosine")
        .refine_factor(_REFINE_FACTOR)
        .where(where, prefilter=True)
        .select([*CHUNK_COLUMNS, "_distance"])
        .limit(top_k)
        .to_arrow()
        .to_pylist()
    )


def keyword_rows(table: Table, where: str, text: str, top_k: int, tenant: str, snapshot: Snapshot | None) -> Rows:
    query = table.search(text, query_type="fts", fts_columns="search_text").where(where, prefilter=True).limit(top_k)
    if snapshot is not None:
        # Ids and scores only, the chunk columns from memory: reading them from disk is ~40% of the query.
        found = query.select(["chunk_id", "_score"]).to_arrow().to_pylist()
        rows = snapshot.rows_by_id(tenant, [r["chunk_id"] for r in found])
        if rows is not None:
            return [row | {"_score": r["_score"]} for row, r in zip(rows, found, strict=True)]
    return query.select([*CHUNK_COLUMNS, "_score"]).to_arrow().to_pylist()


def native_hybrid_rows(
    table: Table, where: str, text: str, vector: np.ndarray, top_k: int, alpha: float, fusion: FusionMethod
) -> Rows:
    reranker = LinearCombinationReranker(weight=alpha) if fusion == "linear" else RRFReranker()
    return (
        table.search(query_type="hybrid", vector_column_name="vector", fts_columns="search_text")
        .vector(np.asarray(vector, dtype=np.float32))
        .text(text)
        .distance_type("cosine")
        .where(where, prefilter=True)
        .rerank(reranker)
        .select(CHUNK_COLUMNS)
        .limit(top_k)
        .to_arrow()
        .to_pylist()
    )


def to_hits(rows: Rows, knowledge_base: str, score: str) -> list[SearchHit]:
    """Rows as hits; a cosine ``_distance`` becomes a similarity so higher is better everywhere."""
    hits = []
    for row in rows:
        value = 1.0 - row[score] if score == "_distance" else row[score]
        hits.append(SearchHit(chunk=row_to_chunk(row, knowledge_base), score=float(value)))
    return hits
