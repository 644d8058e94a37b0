"""One conformance suite for every VectorStore backend (LanceDB always; Weaviate with KAIZEN_WEAVIATE_URL)."""

from __future__ import annotations

import numpy as np
import pytest

from kaizen.retrieval.lancedb_store import LanceDBStore
from kaizen.retrieval.store import VectorStore
from kaizen.retrieval.types import KnowledgeBaseNotFound
from tests.fixtures.retrieval import DIM, make_chunks, word_vectors

FRUIT = ["apples grow on trees in orchards", "bananas are yellow tropical fruit", "cherries are small red fruit"]
TOOLS = ["a hammer drives nails into wood", "a screwdriver turns screws"]


def _put(store: VectorStore, kb: str, doc: str, texts: list[str], **kwargs: object):  # type: ignore[no-untyped-def]
    chunks, vectors = make_chunks(texts, document_id=doc, knowledge_base=kb, **kwargs)  # type: ignore[arg-type]
    return store.upsert_document(chunks, vectors)


def _ids(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.chunk.chunk_id for h in hits]


def test_upsert_is_idempotent_by_content_hash(vector_store: VectorStore, kb_name: str) -> None:
    assert _put(vector_store, kb_name, "fruit", FRUIT).status == "inserted"
    assert _put(vector_store, kb_name, "fruit", FRUIT).status == "unchanged"
    assert vector_store.count(tenant="default", knowledge_base=kb_name) == 3
    assert vector_store.document_hash(tenant="default", knowledge_base=kb_name, document_id="fruit") == "h1"
    assert vector_store.document_hash(tenant="default", knowledge_base=kb_name, document_id="nope") is None


def test_changed_document_replaces_all_its_chunks(vector_store: VectorStore, kb_name: str) -> None:
    _put(vector_store, kb_name, "fruit", FRUIT)
    _put(vector_store, kb_name, "tools", TOOLS)
    result = _put(vector_store, kb_name, "fruit", ["plums are purple"], content_hash="h2")
    assert (result.status, result.chunks) == ("replaced", 1)
    assert vector_store.count(tenant="default", knowledge_base=kb_name) == 1 + len(TOOLS)
    hits = vector_store.search(tenant="default", knowledge_base=kb_name, mode="keyword", text="bananas", top_k=5)
    assert hits == []  # the old version's chunks are gone
    hits = vector_store.search(tenant="default", knowledge_base=kb_name, mode="keyword", text="plums")
    assert _ids(hits) == ["fruit#0"]
    assert hits[0].chunk.content_hash == "h2"


def test_delete_by_document(vector_store: VectorStore, kb_name: str) -> None:
    _put(vector_store, kb_name, "fruit", FRUIT)
    _put(vector_store, kb_name, "tools", TOOLS)
    assert vector_store.delete_document(tenant="default", knowledge_base=kb_name, document_id="fruit") == 3
    assert vector_store.delete_document(tenant="default", knowledge_base=kb_name, document_id="fruit") == 0
    assert vector_store.count(tenant="default", knowledge_base=kb_name) == len(TOOLS)
    assert vector_store.delete_document(tenant="default", knowledge_base="kb-never-made", document_id="x") == 0


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_tenants_never_see_each_other(vector_store: VectorStore, kb_name: str, mode: str) -> None:
    _put(vector_store, kb_name, "shared-id", FRUIT, tenant="acme")
    _put(vector_store, kb_name, "shared-id", ["apples are also sold by globex"], tenant="globex", content_hash="g")
    query = "apples"
    for tenant, expected in (("acme", 3), ("globex", 1)):
        hits = vector_store.search(
            tenant=tenant,
            knowledge_base=kb_name,
            mode=mode,  # type: ignore[arg-type]
            text=query,
            vector=word_vectors([query])[0],
            top_k=10,
        )
        assert hits and all(h.chunk.tenant == tenant for h in hits)
        assert vector_store.count(tenant=tenant, knowledge_base=kb_name) == expected
        assert all(c.tenant == tenant for c in vector_store.random_chunks(tenant=tenant, knowledge_base=kb_name, n=9))
    assert kb_name in vector_store.knowledge_bases(tenant="acme")
    assert kb_name not in vector_store.knowledge_bases(tenant="initech")
    with pytest.raises(KnowledgeBaseNotFound):
        vector_store.count(tenant="initech", knowledge_base=kb_name)
    vector_store.delete_document(tenant="globex", knowledge_base=kb_name, document_id="shared-id")
    assert vector_store.count(tenant="acme", knowledge_base=kb_name) == 3


def test_vector_search_ranks_nearest_first(vector_store: VectorStore, kb_name: str) -> None:
    _put(vector_store, kb_name, "fruit", FRUIT)
    _put(vector_store, kb_name, "tools", TOOLS)
    hits = vector_store.search(
        tenant="default", knowledge_base=kb_name, mode="vector", vector=word_vectors([TOOLS[1]])[0], top_k=3
    )
    assert _ids(hits)[0] == "tools#1"
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_keyword_search_is_bm25(vector_store: VectorStore, kb_name: str) -> None:
    _put(vector_store, kb_name, "fruit", FRUIT)
    _put(vector_store, kb_name, "tools", TOOLS)
    hits = vector_store.search(tenant="default", knowledge_base=kb_name, mode="keyword", text="screwdriver")
    assert _ids(hits) == ["tools#1"]
    assert hits[0].score > 0


def test_hybrid_alpha_weighs_vector_against_keyword(vector_store: VectorStore, kb_name: str) -> None:
    # The keyword "hammer" appears in one chunk; the query vector points at another chunk entirely.
    _put(vector_store, kb_name, "fruit", FRUIT)
    _put(vector_store, kb_name, "tools", TOOLS)
    vector = word_vectors([FRUIT[1]])[0]
    common = {"tenant": "default", "knowledge_base": kb_name, "mode": "hybrid", "text": "hammer", "vector": vector}
    for fusion in ("linear", "rrf"):
        by_vector = vector_store.search(**common, alpha=1.0, fusion=fusion)  # type: ignore[arg-type]
        by_keyword = vector_store.search(**common, alpha=0.0, fusion=fusion)  # type: ignore[arg-type]
        assert _ids(by_vector)[0] == "fruit#1", fusion
        assert _ids(by_keyword)[0] == "tools#0", fusion
        balanced = vector_store.search(**common, alpha=0.5, fusion=fusion)  # type: ignore[arg-type]
        assert {"fruit#1", "tools#0"} <= set(_ids(balanced)[:2]), fusion


def test_metadata_filters_are_typed_equality(vector_store: VectorStore, kb_name: str) -> None:
    _put(vector_store, kb_name, "fruit", FRUIT, metadata={"lang": "en", "year": 2024, "draft": False})
    _put(vector_store, kb_name, "tools", TOOLS, metadata={"lang": "de", "year": "2024"})
    assert vector_store.count(tenant="default", knowledge_base=kb_name, filters={"lang": "en"}) == 3
    assert vector_store.count(tenant="default", knowledge_base=kb_name, filters={"year": 2024}) == 3
    assert vector_store.count(tenant="default", knowledge_base=kb_name, filters={"year": "2024"}) == 2
    assert vector_store.count(tenant="default", knowledge_base=kb_name, filters={"lang": "en", "draft": True}) == 0
    for mode in ("vector", "keyword", "hybrid"):
        hits = vector_store.search(
            tenant="default",
            knowledge_base=kb_name,
            mode=mode,  # type: ignore[arg-type]
            text="hammer screws fruit",
            vector=word_vectors(["hammer"])[0],
            filters={"lang": "de"},
            top_k=10,
        )
        assert hits and {h.chunk.document_id for h in hits} == {"tools"}, mode
        assert hits[0].chunk.metadata == {"lang": "de", "year": "2024"}


def test_missing_knowledge_base_is_a_clear_error(vector_store: VectorStore, kb_name: str) -> None:
    for mode in ("vector", "keyword", "hybrid"):
        with pytest.raises(KnowledgeBaseNotFound, match=kb_name):
            vector_store.search(
                tenant="default",
                knowledge_base=kb_name,
                mode=mode,  # type: ignore[arg-type]
                text="x",
                vector=np.ones(DIM, dtype=np.float32),
            )
    with pytest.raises(KnowledgeBaseNotFound, match="does not exist for tenant 'default'"):
        vector_store.random_chunks(tenant="default", knowledge_base=kb_name, n=1)
    assert kb_name not in vector_store.knowledge_bases(tenant="default")


def test_random_chunks_are_reproducible_and_exclude(vector_store: VectorStore, kb_name: str) -> None:
    _put(vector_store, kb_name, "fruit", FRUIT)
    _put(vector_store, kb_name, "tools", TOOLS)
    first = vector_store.random_chunks(tenant="default", knowledge_base=kb_name, n=3, seed=7)
    again = vector_store.random_chunks(tenant="default", knowledge_base=kb_name, n=3, seed=7)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == 3
    excluded = {"fruit#0", "fruit#1", "fruit#2"}
    rest = vector_store.random_chunks(tenant="default", knowledge_base=kb_name, n=10, exclude=excluded)
    assert sorted(c.chunk_id for c in rest) == ["tools#0", "tools#1"]
    assert rest[0].text in TOOLS and rest[0].title == "Title of tools"


def test_chunks_by_id_and_by_document(vector_store: VectorStore, kb_name: str) -> None:
    _put(vector_store, kb_name, "fruit", FRUIT)
    _put(vector_store, kb_name, "fruit", ["someone else's fruit"], tenant="acme", content_hash="a")
    _put(vector_store, kb_name, "tools", TOOLS)
    got = vector_store.get_chunks(
        tenant="default", knowledge_base=kb_name, chunk_ids=["tools#1", "nope#0", "fruit#2", "tools#1"]
    )
    assert [c.chunk_id for c in got] == ["tools#1", "fruit#2"]  # asked order, unknown ids left out, no repeats
    assert got[1].text == FRUIT[2]
    assert vector_store.get_chunks(tenant="default", knowledge_base=kb_name, chunk_ids=[]) == []
    fruit = vector_store.document_chunks(tenant="default", knowledge_base=kb_name, document_id="fruit")
    assert [c.text for c in fruit] == FRUIT  # in position order, the default tenant's only
    theirs = vector_store.document_chunks(tenant="acme", knowledge_base=kb_name, document_id="fruit")
    assert [c.text for c in theirs] == ["someone else's fruit"]
    assert vector_store.document_chunks(tenant="default", knowledge_base=kb_name, document_id="nope") == []
    with pytest.raises(KnowledgeBaseNotFound):
        vector_store.document_chunks(tenant="default", knowledge_base="kb-never-made", document_id="fruit")


def test_bad_input_is_rejected_and_loses_nothing(vector_store: VectorStore, kb_name: str) -> None:
    _put(vector_store, kb_name, "fruit", FRUIT)
    chunks, vectors = make_chunks(TOOLS, document_id="tools", knowledge_base=kb_name)
    with pytest.raises(ValueError, match="vectors"):
        vector_store.upsert_document(chunks, vectors[:1])
    other, _ = make_chunks(["x"], document_id="other", knowledge_base=kb_name)
    with pytest.raises(ValueError, match="one document"):
        vector_store.upsert_document([*chunks, *other], word_vectors([*TOOLS, "x"]))
    with pytest.raises(ValueError, match="tenant"):
        vector_store.count(tenant="Bad Tenant!", knowledge_base=kb_name)
    with pytest.raises(ValueError, match="query text"):
        vector_store.search(tenant="default", knowledge_base=kb_name, mode="keyword", text="  ")
    with pytest.raises(ValueError, match="alpha"):
        vector_store.search(tenant="default", knowledge_base=kb_name, text="x", vector=vectors[0], alpha=2)
    assert vector_store.count(tenant="default", knowledge_base=kb_name) == 3


def test_lancedb_persists_and_optimize_keeps_results(tmp_path, kb_name: str) -> None:  # type: ignore[no-untyped-def]
    store = LanceDBStore(tmp_path / "db", dimension=DIM)
    _put(store, kb_name, "fruit", FRUIT)
    _put(store, kb_name, "tools", TOOLS)
    before = store.search(tenant="default", knowledge_base=kb_name, text="red fruit", vector=word_vectors(["red"])[0])
    store.optimize()
    reopened = LanceDBStore(tmp_path / "db", dimension=DIM)
    after = reopened.search(tenant="default", knowledge_base=kb_name, text="red fruit", vector=word_vectors(["red"])[0])
    assert _ids(after) == _ids(before)
    assert reopened.knowledge_bases(tenant="default") == [kb_name]
    with pytest.raises(ValueError, match="dimensions"):
        _put(LanceDBStore(tmp_path / "db", dimension=8), kb_name, "x", ["y"], content_hash="z")


def test_lancedb_ann_index_keeps_filters_and_finds_exact_matches(tmp_path, kb_name: str) -> None:  # type: ignore[no-untyped-def]
    store = LanceDBStore(tmp_path / "db", dimension=DIM, ann_min_rows=500)
    texts = [f"note {i} about topic{i % 37} and item{i}" for i in range(600)]
    for start in range(0, 600, 100):
        tenant = "acme" if start < 300 else "globex"
        _put(store, kb_name, f"doc{start}", texts[start : start + 100], tenant=tenant)
    store.optimize()
    table = store._table(kb_name)
    assert table is not None and any(tuple(i.columns) == ("vector",) for i in table.list_indices())
    for i in (5, 250, 299):
        hits = store.search(tenant="acme", knowledge_base=kb_name, mode="vector", vector=word_vectors([texts[i]])[0])
        assert hits[0].chunk.text == texts[i]
        assert all(h.chunk.tenant == "acme" for h in hits)
    hits = store.search(tenant="globex", knowledge_base=kb_name, mode="vector", vector=word_vectors([texts[5]])[0])
    assert hits and all(h.chunk.tenant == "globex" for h in hits)


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_several_knowledge_bases_rank_as_one(vector_store: VectorStore, kb_name: str, mode: str) -> None:
    """Both fruit chunks outrank the other knowledge base's weak match: one ranking, not a merge of one per kb.

    Fused alone, the tools knowledge base's only keyword hit normalises to the top score, and a merge by score
    ranked it with the best fruit chunk.
    """
    tools = f"{kb_name}-tools"
    _put(vector_store, kb_name, "fruit", ["bananas are yellow fruit", "cherries are red fruit", "plums are purple"])
    _put(vector_store, tools, "tools", ["a knife cuts fruit", "a hammer drives nails"])
    query = "yellow fruit and red fruit"
    hits = vector_store.search_many(
        tenant="default",
        knowledge_bases=[tools, kb_name],
        mode=mode,  # type: ignore[arg-type]
        text=query,
        vector=word_vectors([query])[0],
        top_k=2,
    )
    assert sorted(_ids(hits)) == ["fruit#0", "fruit#1"]
    assert [h.rank for h in hits] == [1, 2]


def test_the_same_chunk_id_in_two_knowledge_bases_stays_two_hits(vector_store: VectorStore, kb_name: str) -> None:
    other = f"{kb_name}-copy"
    _put(vector_store, kb_name, "fruit", FRUIT)
    _put(vector_store, other, "fruit", FRUIT)
    hits = vector_store.search_many(
        tenant="default", knowledge_bases=[kb_name, other], text="bananas", vector=word_vectors(["bananas"])[0]
    )
    assert [(h.chunk.knowledge_base, h.chunk.chunk_id) for h in hits[:2]] in (
        [(kb_name, "fruit#1"), (other, "fruit#1")],
        [(other, "fruit#1"), (kb_name, "fruit#1")],
    )


def test_an_optional_knowledge_base_may_not_exist_yet(vector_store: VectorStore, kb_name: str) -> None:
    _put(vector_store, kb_name, "fruit", FRUIT)
    query = {"text": "bananas", "vector": word_vectors(["bananas"])[0], "tenant": "default"}
    later = f"{kb_name}-later"
    hits = vector_store.search_many(knowledge_bases=[kb_name, later], skip_missing=[later], **query)  # type: ignore[arg-type]
    assert _ids(hits)[0] == "fruit#1"
    assert vector_store.search_many(knowledge_bases=[later], skip_missing=[later], **query) == []  # type: ignore[arg-type]
    with pytest.raises(KnowledgeBaseNotFound):
        vector_store.search_many(knowledge_bases=[kb_name, later], **query)  # type: ignore[arg-type]
