"""What the console reads, opened once per gateway and lazily: a page that needs no model never loads one."""

from __future__ import annotations

from functools import cached_property

from fastapi import Request

from kaizen.config import Settings
from kaizen.datasets.store import DatasetStore
from kaizen.registry import AdapterRegistry
from kaizen.retrieval.factory import make_store
from kaizen.retrieval.knowledge_base import KnowledgeBase
from kaizen.retrieval.store import VectorStore


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def registry(self) -> AdapterRegistry:
        return AdapterRegistry.from_settings(self.settings)

    @cached_property
    def datasets(self) -> DatasetStore:
        # The console only reads staging and writes versions, never staging lines: the writer name is unused.
        return DatasetStore(self.settings.datasets_dir, writer="console")

    @cached_property
    def store(self) -> VectorStore:
        # Reads only; the dimension matters only to a store creating a table (as in the curator).
        return make_store(self.settings, dimension=0)

    @cached_property
    def knowledge(self) -> KnowledgeBase:
        """Search embeds the query: the embedding model loads on the first search."""
        return KnowledgeBase.from_settings(self.settings)


def resources(request: Request) -> Resources:
    return request.app.state.console
