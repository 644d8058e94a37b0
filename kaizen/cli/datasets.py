"""``kaizen datasets``: list, show, snapshot, export and report on versioned datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kaizen.config import Settings
from kaizen.datasets.export import ExportFormat, LengthStats, export_hf_dir, export_lines, statistics
from kaizen.datasets.store import DatasetNotFound, DatasetStore

console = Console()
datasets_app = typer.Typer(help="Versioned instruction and RAFT datasets.", no_args_is_help=True)


def _store() -> DatasetStore:
    return DatasetStore.from_settings(Settings())


def _fail(message: str) -> None:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(1)


@datasets_app.command("list")
def list_versions(tenant: Annotated[str | None, typer.Option(help="Only this tenant's versions.")] = None) -> None:
    """Every version, oldest first."""
    versions = _store().list_versions(tenant)
    table = Table()
    table.add_column("version", no_wrap=True)
    table.add_column("tenant")
    table.add_column("created")
    for name in ("instructions", "raft", "rejected"):
        table.add_column(name, justify="right")
    table.add_column("parent", no_wrap=True)
    for m in versions:
        table.add_row(
            m.version,
            m.tenant,
            m.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(m.counts.instructions),
            str(m.counts.raft),
            str(sum(m.rejections.values())),
            m.parent or "-",
        )
    console.print(table if versions else "no dataset versions yet (run `kaizen datasets snapshot`)")


@datasets_app.command()
def show(version: Annotated[str, typer.Argument(help="A version, a unique prefix, or latest[:tenant].")]) -> None:
    """The manifest of one version."""
    try:
        console.print_json(_store().manifest(version).model_dump_json())
    except DatasetNotFound as exc:
        _fail(str(exc))


@datasets_app.command()
def snapshot(tenant: Annotated[str, typer.Option(help="Tenant to snapshot.")] = "default") -> None:
    """Build a version from every curated example staged so far (a no-op when nothing changed)."""
    try:
        m = _store().snapshot(tenant)
    except ValueError as exc:
        _fail(str(exc))
        return
    console.print(f"version {m.version}: {m.counts.instructions} instructions, {m.counts.raft} RAFT examples")


@datasets_app.command()
def export(
    version: Annotated[str, typer.Argument(help="A version, a unique prefix, or latest[:tenant].")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output form.")] = ExportFormat.chat,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (a directory for hf); default stdout.")
    ] = None,
) -> None:
    """Write a version as chat messages, RAFT rows, preference pairs, OpenAI fine-tuning JSONL, raw JSONL, its
    statistics, or (hf) a directory that Hugging Face ``datasets`` loads, with a dataset card."""
    store = _store()
    try:
        if fmt == ExportFormat.hf:
            if output is None:
                _fail("--format hf writes a directory: give it with --output")
                return
            counts = export_hf_dir(store, version, output)
            listed = ", ".join(f"{k}={v}" for k, v in counts.items()) or "no rows"
            console.print(f"wrote {output} ({listed})", style="green")
            return
        lines = export_lines(store, version, fmt)
        if output is None:
            for line in lines:
                typer.echo(line)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        with output.open("w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
                count += 1
        console.print(f"wrote {count} rows to {output}", style="green")
    except DatasetNotFound as exc:
        _fail(str(exc))


@datasets_app.command()
def stats(version: Annotated[str, typer.Argument(help="A version, a unique prefix, or latest[:tenant].")]) -> None:
    """The statistics report of one version."""
    try:
        report = statistics(_store(), version)
    except DatasetNotFound as exc:
        _fail(str(exc))
        return
    m = report.manifest
    table = Table(title=f"dataset {m.version} (tenant {m.tenant})", show_header=False)
    table.add_column("measure", style="bold")
    table.add_column("value")
    rows: list[tuple[str, object]] = [
        ("content hash", m.content_hash),
        ("parent", m.parent or "-"),
        ("feedback curated", m.counts.feedback),
        ("instruction examples", m.counts.instructions),
        (
            "  accepted / corrected / rejected pairs",
            f"{m.counts.accepted} / {m.counts.corrected} / {m.counts.rejected_pairs}",
        ),
        ("  with context", report.with_context),
        ("preference pairs", report.preference_pairs),
        ("RAFT examples (oracle included)", f"{m.counts.raft} ({m.counts.raft_oracle_included})"),
        ("instruction chars mean / median / max", _lengths(report.instruction_chars)),
        ("target chars mean / median / max", _lengths(report.output_chars)),
        ("RAFT documents mean / max", f"{report.raft_documents.mean} / {report.raft_documents.max}"),
        ("strategies", _pairs(m.sources.strategies)),
        ("knowledge bases", _pairs(m.sources.knowledge_bases)),
        ("source documents", m.sources.documents),
        ("rejections", _pairs(m.rejections)),
        ("PII replaced", _pairs(m.pii_counts)),
        ("filters applied", ", ".join(m.filters_applied) or "-"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)


def _lengths(s: LengthStats) -> str:
    return f"{s.mean} / {s.median} / {s.max}"


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items()) or "-"


def register(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")
