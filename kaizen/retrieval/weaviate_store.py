"""Weaviate backend (weaviate-client v4): one multi-tenant collection per knowledge base."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from kaizen.retrieval.chunking import embedding_text
from kaizen.retrieval.store import (
    FusionMethod,
    UpsertResult,
    VectorStore,
    check_chunks,
    check_knowledge_base,
    check_tenant,
    metadata_tags,
    not_found,
)
from kaizen.retrieval.types import Chunk, MetadataValue, SearchHit

PREFIX = "Kaizen_"
_RETURNED = ["chunk_id", "document_id", "title", "heading", "text", "position", "content_hash", "metadata"]


def collection_name(knowledge_base: str) -> str:
    """Collection names allow [A-Za-z0-9_]; escape '_' and '-' so distinct knowledge bases never collide."""
    check_knowledge_base(knowledge_base)
    return PREFIX + knowledge_base.replace("_", "__").replace("-", "_d")


def knowledge_base_name(collection: str) -> str | None:
    if not collection.startswith(PREFIX):
        return None
    encoded, out, i = collection[len(PREFIX) :], [], 0
    while i < len(encoded):
        if encoded[i] == "_" and i + 1 < len(encoded):
            out.append("_" if encoded[i + 1] == "_" else "-")
            i += 2
        else:
            out.append(encoded[i])
            i += 1
    return "".join(out)


def _connect(url: str, api_key: str) -> Any:
    import weaviate
    from weaviate.classes.init import Auth

    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ValueError(f"weaviate URL must be http(s)://host[:port][?grpc_port=N], got {url!r}")
    secure = parsed.scheme == "https"
    grpc_port = int(parse_qs(parsed.query).get("grpc_port", ["50051"])[0])
    return weaviate.connect_to_custom(
        http_host=parsed.hostname,
        http_port=parsed.port or (443 if secure else 80),
        http_secure=secure,
        grpc_host=parsed.hostname,
        grpc_port=grpc_port,
        grpc_secure=secure,
        auth_credentials=Auth.api_key(api_key) if api_key else None,
    )


class WeaviateStore(VectorStore):
    def __init__(self, url: str, *, api_key: str = "", client: Any = None) -> None:
        self.url = url
        self.client = client or _connect(url, api_key)

    # --- collections and tenants ---------------------------------------------------------------
    def _collection(self, tenant: str, knowledge_base: str, *, create: bool = False) -> Any:
        from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
        from weaviate.classes.tenants import Tenant

        check_tenant(tenant)
        name = collection_name(knowledge_base)
        if not self.client.collections.exists(name):
            if not create:
                return None
            field = Tokenization.FIELD
            self.client.collections.create(
                name,
                description=f"Kaizen knowledge base {knowledge_base}",
                multi_tenancy_config=Configure.multi_tenancy(enabled=True, auto_tenant_creation=False),
                vector_config=Configure.Vectors.self_provided(
                    vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)
                ),
                properties=[
                    Property(name="chunk_id", data_type=DataType.TEXT, tokenization=field),
                    Property(name="document_id", data_type=DataType.TEXT, tokenization=field),
                    Property(name="title", data_type=DataType.TEXT, index_searchable=False),
                    Property(name="heading", data_type=DataType.TEXT, index_searchable=False),
                    Property(name="text", data_type=DataType.TEXT, index_searchable=False),
                    Property(name="search_text", data_type=DataType.TEXT, tokenization=Tokenization.WORD),
                    Property(name="position", data_type=DataType.INT),
                    Property(name="content_hash", data_type=DataType.TEXT, tokenization=field),
                    Property(name="metadata", data_type=DataType.TEXT, index_searchable=False, index_filterable=False),
                    Property(name="meta_tags", data_type=DataType.TEXT_ARRAY, tokenization=field),
                ],
            )
        collection = self.client.collections.use(name)
        if not collection.tenants.exists(tenant):
            if not create:
                return None
            collection.tenants.create([Tenant(name=tenant)])
        return collection.with_tenant(tenant)

    def _readable(self, tenant: str, knowledge_base: str) -> Any:
        collection = self._collection(tenant, knowledge_base)
        if collection is None:
            raise not_found(tenant, knowledge_base)
        return collection

    @staticmethod
    def _filters(tags: Sequence[str], **equal: Any) -> Any:
        from weaviate.classes.query import Filter

        parts = [Filter.by_property(key).equal(value) for key, value in equal.items()]
        if tags:
            parts.append(Filter.by_property("meta_tags").contains_all(list(tags)))
        return Filter.all_of(parts) if len(parts) > 1 else (parts[0] if parts else None)

    # --- writes --------------------------------------------------------------------------------
    def document_hash(self, *, tenant: str, knowledge_base: str, document_id: str) -> str | None:
        collection = self._collection(tenant, knowledge_base)
        if collection is None:
            return None
        found = collection.query.fetch_objects(
            filters=self._filters([], document_id=document_id), limit=1, return_properties=["content_hash"]
        )
        return found.objects[0].properties["content_hash"] if found.objects else None

    def upsert_document(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> UpsertResult:
        from weaviate.classes.data import DataObject
        from weaviate.util import generate_uuid5

        first = check_chunks(chunks, vectors)
        stored = self.document_hash(
            tenant=first.tenant, knowledge_base=first.knowledge_base, document_id=first.document_id
        )
        result = UpsertResult(document_id=first.document_id, status="unchanged", chunks=len(chunks))
        if stored == first.content_hash:
            return result
        collection = self._collection(first.tenant, first.knowledge_base, create=True)
        if stored is not None:
            collection.data.delete_many(where=self._filters([], document_id=first.document_id))
        objects = [
            DataObject(
                uuid=generate_uuid5(chunk.chunk_id),
                vector=[float(x) for x in vector],
                properties={
                    "chunk_id": chunk.chunk_id,
                    "document_id": chunk.document_id,
                    "title": chunk.title,
                    "heading": chunk.heading,
                    "text": chunk.text,
                    "search_text": embedding_text(chunk),
                    "position": chunk.position,
                    "content_hash": chunk.content_hash,
                    "metadata": json.dumps(chunk.metadata, sort_keys=True),
                    "meta_tags": metadata_tags(chunk.metadata),
                },
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        outcome = collection.data.insert_many(objects)
        if outcome.has_errors:
            first_error = next(iter(outcome.errors.values()))
            raise RuntimeError(f"weaviate rejected {len(outcome.errors)} chunks: {first_error.message}")
        return result.model_copy(update={"status": "replaced" if stored is not None else "inserted"})

    def delete_document(self, *, tenant: str, knowledge_base: str, document_id: str) -> int:
        collection = self._collection(tenant, knowledge_base)
        if collection is None:
            return 0
        return int(collection.data.delete_many(where=self._filters([], document_id=document_id)).successful)

    # --- reads ---------------------------------------------------------------------------------
    def count(self, *, tenant: str, knowledge_base: str, filters: dict[str, MetadataValue] | None = None) -> int:
        collection = self._readable(tenant, knowledge_base)
        where = self._filters(metadata_tags(filters or {}))
        return int(collection.aggregate.over_all(total_count=True, filters=where).total_count or 0)

    def knowledge_bases(self, *, tenant: str) -> list[str]:
        check_tenant(tenant)
        names = []
        for collection in self.client.collections.list_all(simple=True):
            kb = knowledge_base_name(collection)
            if kb and self.client.collections.use(collection).tenants.exists(tenant):
                names.append(kb)
        return sorted(names)

    def random_chunks(
        self, *, tenant: str, knowledge_base: str, n: int, exclude: set[str] | None = None, seed: int = 0
    ) -> list[Chunk]:
        collection = self._readable(tenant, knowledge_base)
        ids = [o.properties["chunk_id"] for o in collection.iterator(return_properties=["chunk_id"])]
        candidates = sorted(set(ids) - (exclude or set()))
        picked = random.Random(seed).sample(candidates, min(n, len(candidates)))
        return self.get_chunks(tenant=tenant, knowledge_base=knowledge_base, chunk_ids=picked)

    def get_chunks(self, *, tenant: str, knowledge_base: str, chunk_ids: Sequence[str]) -> list[Chunk]:
        from weaviate.classes.query import Filter

        wanted = list(dict.fromkeys(chunk_ids))
        if not wanted:
            return []
        found = self._fetch(tenant, knowledge_base, Filter.by_property("chunk_id").contains_any(wanted), len(wanted))
        by_id = {c.chunk_id: c for c in found}
        return [by_id[c] for c in wanted if c in by_id]

    def document_chunks(self, *, tenant: str, knowledge_base: str, document_id: str) -> list[Chunk]:
        found = self._fetch(tenant, knowledge_base, self._filters([], document_id=document_id), 10_000)
        return sorted(found, key=lambda c: c.position)

    def _fetch(self, tenant: str, knowledge_base: str, filters: Any, limit: int) -> list[Chunk]:
        collection = self._readable(tenant, knowledge_base)
        found = collection.query.fetch_objects(filters=filters, limit=limit, return_properties=_RETURNED)
        return [self._chunk(o, tenant, knowledge_base) for o in found.objects]

    @staticmethod
    def _chunk(obj: Any, tenant: str, knowledge_base: str) -> Chunk:
        p = obj.properties
        return Chunk(
            chunk_id=p["chunk_id"],
            document_id=p["document_id"],
            knowledge_base=knowledge_base,
            tenant=tenant,
            title=p.get("title") or "",
            heading=p.get("heading") or "",
            text=p["text"],
            position=int(p.get("position") or 0),
            content_hash=p["content_hash"],
            metadata=json.loads(p.get("metadata") or "{}"),
        )

    def _hits(self, objects: Sequence[Any], tenant: str, knowledge_base: str, *, distance: bool) -> list[SearchHit]:
        hits = []
        for obj in objects:
            score = 1.0 - obj.metadata.distance if distance else obj.metadata.score
            hits.append(SearchHit(chunk=self._chunk(obj, tenant, knowledge_base), score=float(score or 0.0)))
        return hits

    def _vector_search(
        self, tenant: str, knowledge_base: str, vector: np.ndarray, top_k: int, tags: list[str]
    ) -> list[SearchHit]:
        from weaviate.classes.query import MetadataQuery

        collection = self._readable(tenant, knowledge_base)
        found = collection.query.near_vector(
            near_vector=[float(x) for x in vector],
            limit=top_k,
            filters=self._filters(tags),
            return_metadata=MetadataQuery(distance=True),
            return_properties=_RETURNED,
        )
        return self._hits(found.objects, tenant, knowledge_base, distance=True)

    def _keyword_search(
        self, tenant: str, knowledge_base: str, text: str, top_k: int, tags: list[str]
    ) -> list[SearchHit]:
        from weaviate.classes.query import MetadataQuery

        collection = self._readable(tenant, knowledge_base)
        found = collection.query.bm25(
            query=text,
            query_properties=["search_text"],
            limit=top_k,
            filters=self._filters(tags),
            return_metadata=MetadataQuery(score=True),
            return_properties=_RETURNED,
        )
        return self._hits(found.objects, tenant, knowledge_base, distance=False)

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
        from weaviate.classes.query import HybridFusion, MetadataQuery

        collection = self._readable(tenant, knowledge_base)
        found = collection.query.hybrid(
            query=text,
            vector=[float(x) for x in vector],
            alpha=alpha,
            fusion_type=HybridFusion.RELATIVE_SCORE if fusion == "linear" else HybridFusion.RANKED,
            query_properties=["search_text"],
            limit=top_k,
            filters=self._filters(tags),
            return_metadata=MetadataQuery(score=True),
            return_properties=_RETURNED,
        )
        return self._hits(found.objects, tenant, knowledge_base, distance=False)

    def close(self) -> None:
        self.client.close()
