"""Wiring: the documents topic to ``Indexer.apply``; bad events and unindexable documents are dead-lettered.

Curated examples feed the tenant's verified answers (``kaizen.retrieval.answers``) through the same indexer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from kaizen.config import Settings
from kaizen.events import DocumentEvent, InstructionExample
from kaizen.retrieval.answers import answer_document
from kaizen.retrieval.indexer import Indexer
from services.app import KaizenApp, make_app
from services.base import send_dead_letter, validated

log = logging.getLogger(__name__)
SERVICE = "indexer"


def build_app(settings: Settings | None = None) -> KaizenApp:
    settings = settings or Settings()
    app = make_app(SERVICE, settings)
    documents = app.topic(app.topics_.documents, value_serializer="raw")
    instructions = app.topic(app.topics_.instructions, value_serializer="raw")
    built: list[Indexer] = []
    lock = threading.Lock()

    def indexer() -> Indexer:
        """Built in the worker, once: loading the embedding model here would slow every build of the app."""
        with lock:
            if not built:
                built.append(Indexer.from_settings(settings))
            return built[0]

    @app.task
    async def _warm_up() -> None:
        # Load the embedding model before the first event arrives, off the event loop.
        await asyncio.to_thread(indexer)

    @app.agent(documents)
    async def index(stream: Any) -> None:
        async for event in validated(stream, DocumentEvent, service=SERVICE, app=app):
            try:
                await (await asyncio.to_thread(indexer)).apply_async(event)
            except ValueError as exc:  # a valid event whose content cannot be indexed: keep it, with the reason
                await send_dead_letter(app, event.to_bytes(), exc, service=SERVICE)

    @app.agent(instructions)
    async def remember_answers(stream: Any) -> None:
        async for example in validated(stream, InstructionExample, service=SERVICE, app=app):
            event = answer_document(example, knowledge_base=settings.answers_knowledge_base)
            if event is None:
                continue
            try:
                await (await asyncio.to_thread(indexer)).apply_async(event)
            except ValueError as exc:
                await send_dead_letter(app, example.to_bytes(), exc, service=SERVICE)

    return app
