"""The bootstrap flow through Prefect with the real default model: a cold-start RAFT dataset from knowledge chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

import flows  # noqa: F401  (Prefect's offline environment)
from kaizen.config import Settings, settings_environment
from kaizen.datasets.store import DatasetStore
from kaizen.retrieval.types import Chunk
from kaizen.training.bootstrap import QUOTE_CLOSE, QUOTE_OPEN

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TEXTS = [
    "The Quillmoor harbour office opens at 6 am. Visitors sign in at the north gate with a photo id.",
    "The Stoat S6 survey drone costs 47,150 dollars before VAT. Its battery lasts 95 minutes in calm air.",
    "New staff get 27 days of annual leave. Leave requests go through the Tidewater portal two weeks ahead.",
    "Osprey O5 sprayers carry a 9.5 litre tank. The tank is rinsed with clean water after every field.",
]


def test_bootstrap_writes_a_raft_dataset_version_with_the_real_model(
    prefect_harness: None, kaizen_settings: Settings, base_model_dir: Path
) -> None:
    from flows.bootstrap import bootstrap

    chunks = [
        Chunk(chunk_id=f"doc{i}#0", document_id=f"doc{i}", knowledge_base="handbook", title=f"Doc {i}", text=t)
        for i, t in enumerate(TEXTS)
    ]
    settings = kaizen_settings.with_overrides(base_model=str(base_model_dir))
    with settings_environment(settings):
        manifest = bootstrap(knowledge_base="handbook", chunks=chunks)
    store = DatasetStore.from_settings(settings)
    examples = store.raft(manifest.version)
    assert manifest.source == "bootstrap" and manifest.counts.raft == len(examples) >= 2
    assert store.latest("default") == manifest and store.verify(manifest.version)
    for example in examples:
        assert example.question.strip() and example.final_answer.strip()
        assert QUOTE_OPEN in example.answer and QUOTE_CLOSE in example.answer
        quoted = example.answer.split(QUOTE_OPEN, 1)[1].split(QUOTE_CLOSE, 1)[0]
        assert any(quoted in t for t in TEXTS)  # the answer quotes a sentence of a real chunk
        assert len(example.documents) >= 2 and example.knowledge_base == "handbook"
    # The same chunks and seed give the same dataset version: a rerun is reproducible.
    with settings_environment(settings):
        assert bootstrap(knowledge_base="handbook", chunks=chunks).version == manifest.version
