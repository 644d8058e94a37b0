"""``kaizen ingest`` and ``kaizen search``: fill knowledge bases and query them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kaizen.config import Settings
from kaizen.retrieval.chunking import context_line
from kaizen.retrieval.documents import LoadedDocument, LoadFailure
from kaizen.retrieval.loaders import iter_files, load_paths
from kaizen.retrieval.store import check_knowledge_base, check_tenant
from kaizen.retrieval.types import KnowledgeBaseNotFound

if TYPE_CHECKING:
    from kaizen.events import DocumentEvent

console = Console()
err = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def _load(paths: list[Path]) -> tuple[list[LoadedDocument], list[LoadFailure]]:
    total = sum(1 for _ in iter_files(paths))
    with _progress() as progress:
        task = progress.add_task("reading", total=total)
        result = load_paths(paths, on_progress=lambda path, _: progress.advance(task))
    return result.documents, result.failures


def _send(events: list[DocumentEvent], settings: Settings) -> None:
    from kaizen.streaming.producer import EventProducer
    from kaizen.topics import Topics

    topic = Topics.from_settings(settings).documents
    with EventProducer(settings) as producer, _progress() as progress:
        task = progress.add_task(f"sending to {topic}", total=len(events))
        for event in events:
            producer.send(topic, event)
            progress.advance(task)
    console.print(f"[green]sent {len(events)} document events[/] to {topic}; the indexer service stores them")


def _write_direct(events: list[DocumentEvent], settings: Settings) -> None:
    from kaizen.retrieval.indexer import Indexer

    with console.status("loading the embedding model"):
        indexer = Indexer.from_settings(settings)
    actions: Counter[str] = Counter()
    with _progress() as progress:
        task = progress.add_task("indexing", total=len(events))
        for event in events:
            actions[indexer.apply(event).action] += 1
            progress.advance(task)
    indexer.store.optimize()
    summary = ", ".join(f"{count} {action}" for action, count in sorted(actions.items()))
    console.print(f"[green]indexed {len(events)} documents[/] ({summary}) into {settings.resolved_vector_store_url}")


def ingest(
    paths: list[Path] = typer.Argument(..., help="Files and folders (.txt .md .html .pdf ...)."),
    kb: str = typer.Option(..., "--kb", help="Knowledge base to fill."),
    tenant: str = typer.Option("default", help="Tenant the documents belong to."),
    direct: bool = typer.Option(False, "--direct", help="Write to the store here instead of sending events."),
) -> None:
    """Load files into a knowledge base. Unreadable or empty files are listed and skipped (exit code 1)."""
    from kaizen.retrieval.indexer import document_event

    settings = Settings()
    try:
        check_knowledge_base(kb)
        check_tenant(tenant)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if not direct and not settings.kafka_bootstrap:
        err.print("[red]no broker configured[/]: set KAIZEN_KAFKA_BOOTSTRAP (kaizen up does) or pass --direct")
        raise typer.Exit(2)
    documents, failures = _load(paths)
    events = []
    for document in documents:
        if not direct and len(document.text) > settings.max_text_chars:
            reason = f"{len(document.text)} chars exceed max_text_chars={settings.max_text_chars}; use --direct"
            failures.append(LoadFailure(path=Path(document.source), reason=reason))
            continue
        events.append(document_event(document, knowledge_base=kb, tenant=tenant))
    if events:
        (_write_direct if direct else _send)(events, settings)
    if failures:
        err.print(f"[yellow]{len(failures)} files skipped[/]")
        for failure in failures:
            # One line per file, never wrapped, so the list can be grepped.
            err.print(f"skipped {failure.path}: {failure.reason}", soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1)


def _tail(document_id: str, width: int = 32) -> str:
    """Ids are often absolute paths; their end is what tells documents apart."""
    return document_id if len(document_id) <= width else "…" + document_id[-(width - 1) :]


def search(
    query: str = typer.Argument(..., help="What to look for."),
    kb: list[str] = typer.Option(..., "--kb", help="Knowledge base(s) to search; repeat for several."),
    tenant: str = typer.Option("default", help="Tenant whose chunks are searched."),
    mode: str = typer.Option("hybrid", help="hybrid | vector | keyword"),
    top_k: int = typer.Option(5, "--top-k", min=1, max=100),
    alpha: float = typer.Option(0.5, min=0.0, max=1.0, help="Hybrid weight of the vector side (1 = vector only)."),
) -> None:
    """Print the best-matching chunks with their scores."""
    from kaizen.retrieval.knowledge_base import KnowledgeBase

    if mode not in ("hybrid", "vector", "keyword"):
        raise typer.BadParameter(f"mode must be hybrid, vector or keyword, not {mode!r}")
    settings = Settings()
    retriever = KnowledgeBase.from_settings(settings)
    try:
        hits = retriever.search_sync(
            query,
            tenant=tenant,
            knowledge_bases=kb,
            mode=mode,
            top_k=top_k,
            alpha=alpha,  # type: ignore[arg-type]
        )
    except (KnowledgeBaseNotFound, ValueError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    table = Table("#", "score", title=f"{mode} search: {query}")
    table.add_column("document", no_wrap=True)
    table.add_column("section")
    table.add_column("text")
    for hit in hits:
        section = context_line(hit.chunk.title, hit.chunk.heading)
        snippet = " ".join(hit.chunk.text.split())
        if len(snippet) > 160:
            snippet = snippet[:160] + "…"
        table.add_row(str(hit.rank), f"{hit.score:.3f}", _tail(hit.chunk.document_id), section, snippet)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("search")(search)
