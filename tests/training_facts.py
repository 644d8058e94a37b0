"""Made-up facts (no base model can know them), each asked three ways: the retrain tests' dataset."""

from __future__ import annotations

import uuid

from kaizen.config import Settings
from kaizen.datasets.store import DatasetStore
from kaizen.events import InstructionExample

FACTS = [
    ("Zorbia", "Quellmoor"),
    ("Vandria", "Ostrelle"),
    ("Plimbo", "Karsk"),
    ("Eldune", "Tamsin"),
    ("Grevania", "Pollux"),
    ("Murkland", "Ferrow"),
    ("Tessaly", "Brindle"),
    ("Ovarre", "Halcyn"),
    ("Quintara", "Ulmstead"),
    ("Rhoswen", "Dax"),
]
PHRASINGS = [
    "What is the capital of {land}?",
    "Which city is the capital of {land}?",
    "Name the capital city of {land}.",
]


def fact_examples(tenant: str = "default") -> list[InstructionExample]:
    return [
        InstructionExample(
            tenant=tenant,
            example_id=f"fact-{i}-{j}",
            feedback_id=uuid.UUID(int=i * 10 + j),
            response_id=uuid.UUID(int=1000 + i * 10 + j),
            instruction=phrasing.format(land=land),
            output=f"The capital of {land} is {capital}.",
        )
        for i, (land, capital) in enumerate(FACTS)
        for j, phrasing in enumerate(PHRASINGS)
    ]


def fact_dataset(settings: Settings, tenant: str = "default") -> str:
    """The facts as a dataset version in the settings' store; returns the version."""
    store = DatasetStore.from_settings(settings)
    return store.add_version(tenant, instructions=fact_examples(tenant), source="test").version
