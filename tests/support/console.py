"""A tenant's objects for the console's tests and screenshots: a knowledge base, curated feedback in two dataset
versions, adapters in the registry and a demo report, each made by the component that makes it in production
(the LanceDB store, the curator, the dataset store, the registry). Every text names its tenant, so a page that
leaks another tenant's objects shows that tenant's name."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from kaizen.config import Settings
from kaizen.curation.pipeline import Curator, CuratorConfig
from kaizen.curation.raft import RaftConfig
from kaizen.datasets.manifest import DatasetManifest
from kaizen.datasets.store import DatasetStore
from kaizen.demo.report import CycleReport, DemoReport, Score
from kaizen.events import Citation, Feedback, InteractionResponse, Thumbs
from kaizen.registry import AdapterManifest, AdapterRegistry, AdapterStatus
from kaizen.retrieval.factory import make_store
from kaizen.retrieval.types import Chunk
from tests.fixtures.retrieval import DIM, make_chunks, word_vectors

# What tests/support/console_serving_service answers to a question naming the Stoat: it cites source [1].
STOAT_ANSWER = "It costs 47,150 dollars [1]."


class WordEmbedder:
    """The hashed bag-of-words vectors of tests/fixtures/retrieval as an embedder: instant, no model to load."""

    name = "words"
    dimension = DIM
    max_tokens = 512

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return word_vectors(list(texts))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    async def aembed_query(self, text: str) -> np.ndarray:
        return self.embed_query(text)


class Seeded(BaseModel):
    tenant: str
    knowledge_base: str
    chunks: list[Chunk]
    versions: list[DatasetManifest]
    adapters: list[AdapterManifest]


def knowledge_base_name(tenant: str) -> str:
    return f"{tenant}-handbook"


def seed_knowledge(settings: Settings, tenant: str) -> list[Chunk]:
    kb = knowledge_base_name(tenant)
    docs = {
        f"{tenant}-fleet": [
            f"The {tenant} Stoat S6 costs 47,150 dollars before VAT.",
            f"The {tenant} Osprey O5 tank holds 9.5 litres.",
        ],
        f"{tenant}-leave": [f"At {tenant}, parental leave is requested with form PL-1.", "Leave starts on a Monday."],
    }
    chunks: list[Chunk] = []
    with make_store(settings, dimension=DIM) as store:
        for doc, texts in docs.items():
            made, vectors = make_chunks(texts, document_id=doc, knowledge_base=kb, tenant=tenant)
            store.upsert_document(made, vectors)
            chunks.extend(made)
    return chunks


def citation(chunk: Chunk) -> Citation:
    return Citation(
        document_id=chunk.document_id,
        chunk_id=chunk.chunk_id,
        knowledge_base=chunk.knowledge_base,
        title=chunk.title,
        quote=chunk.text,
        score=0.8,
    )


def _response(tenant: str, question: str, answer: str, chunks: list[Chunk]) -> InteractionResponse:
    request_id = uuid.uuid4()
    return InteractionResponse(
        tenant=tenant,
        request_id=request_id,
        response_id=InteractionResponse.response_id_for(request_id),
        question=question,
        answer=answer,
        strategy="rag",
        citations=[citation(chunks[0])],
        retrieved_chunk_ids=[c.chunk_id for c in chunks],
    )


def seed_datasets(settings: Settings, tenant: str, chunks: list[Chunk]) -> list[DatasetManifest]:
    """Two versions: the second adds a correction, a rejected answer and an answer with an e-mail address in it."""
    store = DatasetStore(settings.datasets_dir, writer="seed")
    chunk_store = make_store(settings, dimension=DIM)
    config = CuratorConfig(raft=RaftConfig(oracle_probability=1.0, distractors=2))
    curator = Curator(config, lookup=chunk_store, distractor_source=chunk_store)
    first = [
        (
            f"How much does the {tenant} Stoat S6 cost?",
            f"The {tenant} Stoat S6 costs 47,150 dollars.",
            {"thumbs": Thumbs.up},
        ),
        (f"What does the {tenant} Osprey O5 tank hold?", "9.5 litres.", {"rating": 5}),
        ("Can you help me?", "I'm sorry, but I can't help with that.", {"thumbs": Thumbs.up}),
    ]
    second = [
        (f"Which form requests {tenant} parental leave?", "Form X-9.", {"correction": "Form PL-1."}),
        (f"When does {tenant} leave start?", "On a Sunday.", {"rating": 1}),
        (f"Who handles {tenant} leave?", "Mail hr@example.com about it.", {"rating": 5}),
    ]
    versions = []
    for batch in (first, second):
        results = []
        for question, answer, verdict in batch:
            response = _response(tenant, question, answer, chunks)
            curator.add_response(response)
            results.append(curator.add_feedback(Feedback(tenant=tenant, response_id=response.response_id, **verdict)))
        store.append(results)
        versions.append(store.snapshot(tenant))
    chunk_store.close()
    return versions


def seed_adapters(
    settings: Settings, tenant: str, versions: list[DatasetManifest], work: Path
) -> list[AdapterManifest]:
    """A promoted adapter, a candidate that passed the gate, and one the gate refused."""
    registry = AdapterRegistry.from_settings(settings)
    plan = [
        (AdapterStatus.promoted, versions[0], 0.41, 0.62, ["closed_book.contains 0.410 > base 0.300: promote"]),
        (AdapterStatus.candidate, versions[-1], 0.47, 0.66, ["closed_book.contains 0.470 > 0.410: promote"]),
        (AdapterStatus.rejected, versions[-1], 0.35, 0.60, ["closed_book.contains 0.350 < 0.410: refused"]),
    ]
    made: list[AdapterManifest] = []
    for status, dataset, closed, open_book, gate in plan:
        version = registry.next_version(tenant)
        weights = work / version
        weights.mkdir(parents=True)
        (weights / "adapter_model.safetensors").write_bytes(version.encode() * 16)
        manifest = AdapterManifest(
            version=version,
            base_model="gemma-3-270m-it",
            base_model_hash="h",
            dataset_version=dataset.version,
            dataset_examples=dataset.counts.instructions,
            tenant=tenant,
            status=status,
            metrics={
                "closed_book.contains": closed,
                "open_book.contains": open_book,
                "closed_book.token_f1": closed / 2,
            },
            regression_metrics={"closed_book.contains": 0.9},
            parent_version=made[-1].version if made else None,
            gate=gate,
        )
        made.append(registry.register(weights, manifest))
    return made


def seed_demo_report(settings: Settings, tenant: str, adapters: list[AdapterManifest]) -> DemoReport:
    cycles = [
        CycleReport(cycle=0, closed_book=Score(correct=2, total=10), open_book=Score(correct=6, total=10)),
        CycleReport(
            cycle=1,
            adapter_version=adapters[0].version,
            closed_book=Score(correct=5, total=10),
            open_book=Score(correct=8, total=10),
            stream_by_mode={"direct": Score(correct=3, total=8), "rag": Score(correct=6, total=8)},
            feedback_sent=16,
            instruction_examples=12,
            raft_examples=9,
            dataset_version=adapters[0].dataset_version,
            promoted=True,
            gate_reason=adapters[0].gate[0],
        ),
    ]
    report = DemoReport(options={"tenant": tenant}, documents=2, chunks_indexed=4, cycles=cycles)
    path = settings.data_dir / "demo" / "demo-report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.model_dump_json(indent=2))
    return report


def seed_tenant(settings: Settings, tenant: str, work: Path) -> Seeded:
    chunks = seed_knowledge(settings, tenant)
    versions = seed_datasets(settings, tenant, chunks)
    adapters = seed_adapters(settings, tenant, versions, work / f"weights-{tenant}")
    return Seeded(
        tenant=tenant, knowledge_base=knowledge_base_name(tenant), chunks=chunks, versions=versions, adapters=adapters
    )
