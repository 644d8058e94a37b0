"""Knowledge-base retrieval on real text: embedding throughput, indexing time, search latency and hit@5.

    python bench/retrieval.py [--quick] [--chunks N] [--queries N]

Corpus: docstrings of installed packages (bench/_retrieval_corpus.py), chunked with the embedding model's tokenizer
at the configured chunk size: 20,000 chunks (2,000 with --quick). Embedding them takes ~14 min on a 2-core CPU, so
the chunks and their vectors are cached under bench/.cache/ (delete it to re-embed); the throughput measured when
they were computed is reported with ``cached``, next to a fresh measurement on a sample in every run.

Search latency excludes the query embedding (vectors precomputed; embedding one query is reported separately) and
is measured in one run for: one tenant (the tenant filter keeps every row) and four tenants (keeps a quarter) in the
default configuration (exact vector search from the in-memory copy of the table, lancedb_resident.py), and for
comparison LanceDB's own flat scan, an IVF_HNSW_SQ index, and LanceDB's native hybrid query.
Target: hybrid p50 <= 15 ms at 20k chunks. Writes bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from _retrieval_corpus import Doc, Question, documents, questions  # noqa: E402

from kaizen.config import Settings  # noqa: E402
from kaizen.retrieval.chunking import embedding_text  # noqa: E402
from kaizen.retrieval.documents import content_hash  # noqa: E402
from kaizen.retrieval.embedder import get_embedder  # noqa: E402
from kaizen.retrieval.factory import make_chunker  # noqa: E402
from kaizen.retrieval.lancedb_store import LanceDBStore  # noqa: E402
from kaizen.retrieval.types import Chunk  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "retrieval.json"
CACHE = ROOT / "bench" / ".cache"
TARGET_HYBRID_P50_MS = 15.0


def build_corpus(n_chunks: int, settings: Settings) -> tuple[list[Doc], list[Chunk]]:
    embedder = get_embedder(settings)
    chunker = make_chunker(settings, embedder)
    docs: list[Doc] = []
    chunks: list[Chunk] = []
    for doc in documents():
        meta = {"package": doc.document_id.split(".", 1)[0]}
        digest = content_hash(doc.title, doc.text, meta)
        new = chunker.chunk(
            document_id=doc.document_id, knowledge_base="bench", text=doc.text, title=doc.title,
            metadata=meta, content_hash=digest, parse_headings=False,
        )  # fmt: skip
        docs.append(doc)
        chunks.extend(new)
        if len(chunks) >= n_chunks:
            break
    return docs, chunks


def cached_corpus(n_chunks: int, settings: Settings) -> tuple[list[Doc], list[Chunk], np.ndarray, dict[str, Any]]:
    """Chunks and vectors, computed once per (size, model, chunking) and kept under bench/.cache."""
    key = hashlib.sha256(
        f"{n_chunks}|{settings.embedding_model}|{settings.chunk_tokens}|{settings.chunk_overlap}|v1".encode()
    ).hexdigest()[:12]
    base = CACHE / f"retrieval-{n_chunks}-{key}"
    files = [base.with_suffix(s) for s in (".docs.jsonl", ".chunks.jsonl", ".npy", ".json")]
    if all(f.exists() for f in files):
        # split("\n"), not splitlines(): docstrings hold \x85 and U+2028, which JSON leaves unescaped.
        docs = [Doc.model_validate_json(line) for line in files[0].read_text().split("\n") if line]
        chunks = [Chunk.model_validate_json(line) for line in files[1].read_text().split("\n") if line]
        return docs, chunks, np.load(files[2]), json.loads(files[3].read_text()) | {"cached": True}
    start = time.perf_counter()
    docs, chunks = build_corpus(n_chunks, settings)
    corpus_s = time.perf_counter() - start
    embedder = get_embedder(settings)
    texts = [embedding_text(c) for c in chunks]
    vectors, embed_s = embed_resumably(embedder, texts, base)
    tokens = sum(len(t) for t in embedder.tokenizer(texts, add_special_tokens=True, truncation=True)["input_ids"])
    info = {
        "chunks": len(chunks),
        "documents": len(docs),
        "corpus_build_s": round(corpus_s, 1),
        "embed_s": round(embed_s, 1),
        "chunks_per_s": round(len(chunks) / embed_s, 1),
        "mean_tokens_per_chunk": round(tokens / len(chunks), 1),
        "batch_size": embedder.batch_size,
        "torch_threads": __import__("torch").get_num_threads(),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    files[0].write_text("\n".join(d.model_dump_json() for d in docs) + "\n")
    files[1].write_text("\n".join(c.model_dump_json() for c in chunks) + "\n")
    np.save(files[2], vectors)
    files[3].write_text(json.dumps(info, indent=2))
    return docs, chunks, vectors, info | {"cached": False}


def embed_resumably(embedder: Any, texts: list[str], base: Path, part: int = 1_000) -> tuple[np.ndarray, float]:
    """Embed in parts saved as they finish, so an interrupted 20k run resumes instead of starting over."""
    CACHE.mkdir(parents=True, exist_ok=True)
    parts: list[np.ndarray] = []
    embed_s = 0.0
    for i in range(0, len(texts), part):
        path = base.with_name(f"{base.name}.part{i // part:03d}.npy")
        timing = path.with_suffix(".s")
        if path.exists() and timing.exists():
            parts.append(np.load(path))
            embed_s += float(timing.read_text())
            continue
        start = time.perf_counter()
        vectors = embedder.embed(texts[i : i + part])
        elapsed = time.perf_counter() - start
        np.save(path, vectors)
        timing.write_text(f"{elapsed:.3f}")
        parts.append(vectors)
        embed_s += elapsed
        print(f"embedded {min(i + part, len(texts))}/{len(texts)} chunks ({part / elapsed:.1f}/s)", flush=True)
    return np.concatenate(parts), embed_s


def fresh_embedding_rate(chunks: list[Chunk], settings: Settings, sample: int) -> dict[str, float]:
    embedder = get_embedder(settings)
    texts = [embedding_text(c) for c in chunks[:sample]]
    start = time.perf_counter()
    embedder.embed(texts)
    batch_s = time.perf_counter() - start
    queries = [c.title for c in chunks[:64]]
    start = time.perf_counter()
    for q in queries:
        embedder.embed_query(q)
    one_query_ms = (time.perf_counter() - start) / len(queries) * 1000
    return {
        "sample_chunks": len(texts),
        "chunks_per_s": round(len(texts) / batch_s, 1),
        "one_query_ms": round(one_query_ms, 2),
    }


def by_document(chunks: list[Chunk], vectors: np.ndarray, tenants: int) -> list[tuple[list[Chunk], np.ndarray]]:
    """Chunks grouped per document, spread over ``tenants`` tenants (a document id defined twice gets a suffix)."""
    grouped: list[tuple[list[Chunk], np.ndarray]] = []
    used: set[str] = set()
    start = 0
    for i, ((doc_id, _), group) in enumerate(itertools.groupby(chunks, key=lambda c: (c.document_id, c.content_hash))):
        members = list(group)
        unique = doc_id if doc_id not in used else f"{doc_id}~{i}"
        used.add(unique)
        tenant = "default" if tenants == 1 else f"t{i % tenants}"
        members = [
            c.model_copy(update={"tenant": tenant, "document_id": unique, "chunk_id": f"{unique}#{c.position}"})
            for c in members
        ]
        grouped.append((members, vectors[start : start + len(members)]))
        start += len(members)
    return grouped


def index(store: LanceDBStore, kb: str, documents: list[tuple[list[Chunk], np.ndarray]]) -> dict[str, float]:
    docs = [([c.model_copy(update={"knowledge_base": kb}) for c in chunks], v) for chunks, v in documents]
    start = time.perf_counter()
    for i in range(0, len(docs), 1000):
        store.upsert_documents(docs[i : i + 1000])
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - start
    start = time.perf_counter()
    again = store.upsert_documents(docs[:1000])  # a replay: every document unchanged, nothing written
    replay_s = time.perf_counter() - start
    assert all(r.status == "unchanged" for r in again)
    return {"write_s": round(write_s, 2), "optimize_s": round(optimize_s, 2), "replay_1000_docs_s": round(replay_s, 2)}


def latency(fn: Any, items: list[Any]) -> dict[str, float]:
    for item in items[:5]:
        fn(item)  # warm caches
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def measure(
    store: LanceDBStore, kb: str, tenant: str, qs: list[Question], qvecs: np.ndarray, top_k: int = 5
) -> dict[str, Any]:
    items = list(zip(qs, qvecs, strict=True))

    def run(mode: str) -> Any:
        return lambda item: store.search(
            tenant=tenant, knowledge_base=kb, mode=mode, text=item[0].query, vector=item[1], top_k=top_k
        )

    out: dict[str, Any] = {mode: latency(run(mode), items) for mode in ("vector", "keyword", "hybrid")}
    rrf = lambda item: store.search(  # noqa: E731
        tenant=tenant, knowledge_base=kb, mode="hybrid", text=item[0].query, vector=item[1], fusion="rrf"
    )
    out["hybrid_rrf"] = latency(rrf, items)
    return out


def hit_at_5(store: LanceDBStore, kb: str, qs: list[Question], qvecs: np.ndarray) -> dict[str, float]:
    result: dict[str, float] = {}
    for mode in ("vector", "keyword", "hybrid"):
        for kind in sorted({q.kind for q in qs}):
            hits = 0
            chosen = [(q, v) for q, v in zip(qs, qvecs, strict=True) if q.kind == kind]
            for q, v in chosen:
                found = store.search(tenant="default", knowledge_base=kb, mode=mode, text=q.query, vector=v, top_k=5)
                hits += q.document_id in {h.chunk.document_id for h in found}
            result[f"{mode}/{kind}"] = round(hits / len(chosen), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 chunks and 50 queries")
    parser.add_argument("--chunks", type=int, default=0)
    parser.add_argument("--queries", type=int, default=0)
    args = parser.parse_args()
    n_chunks = args.chunks or (2_000 if args.quick else 20_000)
    n_queries = args.queries or (50 if args.quick else 200)
    settings = Settings()

    docs, chunks, vectors, embedding = cached_corpus(n_chunks, settings)
    fresh = fresh_embedding_rate(chunks, settings, sample=128 if args.quick else 512)
    qs = questions(docs, n_queries // 2)
    qvecs = get_embedder(settings).embed([q.query for q in qs])
    one_tenant, four_tenants = by_document(chunks, vectors, 1), by_document(chunks, vectors, 4)

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "db"
        # The default configuration: tables under vector_resident_max_rows answer vector queries from memory.
        store = LanceDBStore(db, dimension=vectors.shape[1], resident_max_rows=settings.vector_resident_max_rows)
        indexing: dict[str, Any] = {
            "one_tenant": index(store, "single", one_tenant),
            "four_tenants": index(store, "multi", four_tenants),
        }
        start = time.perf_counter()
        resident_bytes = store.load_resident("single")
        indexing["resident_load_s"] = round(time.perf_counter() - start, 2)
        indexing["resident_mb"] = round(resident_bytes / 1e6, 1)
        store.load_resident("multi")
        searches: dict[str, Any] = {
            "one_tenant (filter keeps all rows)": measure(store, "single", "default", qs, qvecs),
            "four_tenants (filter keeps 1/4)": measure(store, "multi", "t1", qs, qvecs),
        }
        quality = {"exact": hit_at_5(store, "single", qs, qvecs)}
        scan = LanceDBStore(db, dimension=vectors.shape[1])
        searches["one_tenant, LanceDB flat scan (no resident copy)"] = measure(scan, "single", "default", qs, qvecs)
        native = LanceDBStore(db, dimension=vectors.shape[1], hybrid_engine="native")
        searches["one_tenant, LanceDB native hybrid"] = {
            "hybrid": measure(native, "single", "default", qs, qvecs)["hybrid"]
        }
        start = time.perf_counter()
        table = scan._table("single")
        assert table is not None
        table.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ")
        indexing["ivf_hnsw_sq_build_s"] = round(time.perf_counter() - start, 2)
        searches["one_tenant, IVF_HNSW_SQ vector index"] = measure(scan, "single", "default", qs, qvecs)
        quality["ivf_hnsw_sq"] = hit_at_5(scan, "single", qs, qvecs)

    hybrid_p50 = searches["one_tenant (filter keeps all rows)"]["hybrid"]["p50_ms"]
    result = {
        "chunks": len(chunks),
        "documents": len({c.document_id for c in chunks}),
        "questions": {kind: sum(q.kind == kind for q in qs) for kind in ("summary", "name")},
        "embedding": {"corpus": embedding, "fresh_sample": fresh},
        "indexing": indexing,
        "search_latency_excluding_query_embedding": searches,
        "hit_at_5": quality,
        "target": {
            "hybrid_p50_ms": TARGET_HYBRID_P50_MS,
            "measured_p50_ms": hybrid_p50,
            "met": hybrid_p50 <= TARGET_HYBRID_P50_MS,
            "hybrid_over_vector_p50": round(
                hybrid_p50 / searches["one_tenant (filter keeps all rows)"]["vector"]["p50_ms"], 2
            ),
        },
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
