"""The LanceDB table layout of a knowledge base: columns, SQL filters, and rows back into chunks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from kaizen.retrieval.types import Chunk

CHUNK_COLUMNS = [
    "chunk_id", "document_id", "tenant", "title", "heading", "text", "position", "content_hash", "metadata",
]  # fmt: skip


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False),
            pa.field("document_id", pa.string(), nullable=False),
            pa.field("tenant", pa.string(), nullable=False),
            pa.field("title", pa.string()),
            pa.field("heading", pa.string()),
            pa.field("text", pa.string(), nullable=False),
            pa.field("search_text", pa.string(), nullable=False),
            pa.field("position", pa.int32()),
            pa.field("content_hash", pa.string(), nullable=False),
            pa.field("metadata", pa.string(), metadata={"kaizen": "JSON object of the document's metadata"}),
            pa.field("meta_tags", pa.list_(pa.string())),
            pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
        ]
    )


def where_clause(tenant: str, tags: Sequence[str], extra: str = "") -> str:
    clauses = [f"tenant = {quote(tenant)}"]
    if tags:
        clauses.append("array_has_all(meta_tags, [" + ", ".join(quote(t) for t in tags) + "])")
    if extra:
        clauses.append(extra)
    return " AND ".join(clauses)


def row_to_chunk(row: dict[str, Any], knowledge_base: str) -> Chunk:
    return Chunk(
        chunk_id=row["chunk_id"],
        document_id=row["document_id"],
        knowledge_base=knowledge_base,
        tenant=row["tenant"],
        title=row["title"] or "",
        heading=row["heading"] or "",
        text=row["text"],
        position=row["position"] or 0,
        content_hash=row["content_hash"],
        metadata=json.loads(row["metadata"] or "{}"),
    )
