"""The scripted serving service with rag over the seeded LanceDB knowledge bases, for the console's browser tests.

Run as ``python -m tests.support.console_serving_service``. A question naming the Stoat is answered citing source
[1], word by word when it also contains STREAMED (see tests/support/serving.py)."""

from __future__ import annotations

from kaizen.config import Settings
from kaizen.retrieval.factory import make_store
from kaizen.retrieval.knowledge_base import KnowledgeBase
from kaizen.serving.core import ServingCore
from kaizen.serving.runtime import ServingRuntime
from services.runner import run_worker
from services.serving.app import build_app
from tests.fixtures.retrieval import DIM
from tests.support import scripted_serving_service as scripted
from tests.support.console import STOAT_ANSWER, WordEmbedder


def build(settings: Settings) -> ServingCore:
    retriever = KnowledgeBase(make_store(settings, dimension=DIM), WordEmbedder())  # type: ignore[arg-type]
    return scripted.build(settings, retriever=retriever, rules=[("Stoat", f" {STOAT_ANSWER}")])


if __name__ == "__main__":
    settings = Settings()
    runtime = ServingRuntime(settings)
    runtime.build = build  # type: ignore[method-assign]
    run_worker(build_app(settings, runtime=runtime))
