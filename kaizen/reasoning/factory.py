"""Building ``ReasoningDeps`` from ``Settings``: the configured knowledge bases, embedder and exemplar pool."""

from __future__ import annotations

from typing import Any

from kaizen.config import Settings
from kaizen.llm.types import LLM
from kaizen.reasoning.deps import ReasoningDeps
from kaizen.reasoning.exemplars import ExemplarPool
from kaizen.reasoning.prompts import PromptLibrary
from kaizen.retrieval.types import Retriever


def build_deps(
    settings: Settings,
    llm: LLM,
    *,
    retriever: Retriever | None = None,
    with_retrieval: bool = True,
    **knobs: Any,
) -> ReasoningDeps:
    """The production wiring: LanceDB/Weaviate knowledge bases and MMR exemplars share one embedder."""
    from kaizen.retrieval.embedder import get_embedder

    embedder = get_embedder(settings)
    if retriever is None and with_retrieval:
        from kaizen.retrieval.knowledge_base import KnowledgeBase

        retriever = KnowledgeBase.from_settings(settings)
    pool = ExemplarPool.for_data_dir(settings.data_dir, embedder.embed)
    answers = [settings.answers_knowledge_base] if settings.answers_knowledge_base else []
    knobs.setdefault("answer_knowledge_bases", answers)
    return ReasoningDeps(llm=llm, retriever=retriever, exemplars=pool, prompts=PromptLibrary(), **knobs)
