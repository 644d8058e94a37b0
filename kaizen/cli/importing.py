"""``kaizen import``: the logs an app already has (chat logs, CSV, Langfuse and LangSmith exports) as events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from kafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from kaizen.config import Settings
from kaizen.importing.records import ImportFormat, ImportReport
from kaizen.importing.run import ImportFileError, import_file

console = Console()


def report_tables(report: ImportReport, *, show: int = 20) -> list[Table]:
    summary = Table(title=f"import of {report.file} ({report.format.value}, tenant {report.tenant})", show_header=False)
    summary.add_column("what", style="bold")
    summary.add_column("count", justify="right")
    verb = "would publish" if report.dry_run else "published"
    summary.add_row(f"interactions ({verb} as responses)", str(report.interactions))
    summary.add_row(f"feedback events ({verb})", str(report.feedback))
    summary.add_row("interactions without feedback (no example until rated)", str(report.without_feedback))
    summary.add_row("skipped", str(len(report.skipped)))
    for reason, n in report.skip_reasons().items():
        summary.add_row(f"  {reason}", str(n))
    tables = [summary]
    if report.skipped:
        skipped = Table("where", "why", title=f"skipped (first {min(show, len(report.skipped))})")
        for s in report.skipped[:show]:
            skipped.add_row(s.where, s.reason)
        tables.append(skipped)
    return tables


def import_command(
    file: Annotated[Path, typer.Argument(help="The file to import.")],
    fmt: Annotated[ImportFormat, typer.Option("--format", "-f", help="What the file holds.")],
    tenant: Annotated[str, typer.Option(help="Tenant the interactions belong to.")] = "default",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Parse and report; publish nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import interactions with their answers and feedback onto the normal topics.

    The curator treats them like live traffic (PII scrubbing, quality filters, dedup, datasets). Ids derive from
    each record, so importing the same file again changes nothing.
    """
    settings = Settings()
    try:
        report = import_file(settings, file, fmt, tenant=tenant, dry_run=dry_run)
    except ImportFileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    except KafkaError as exc:
        console.print(
            f"[red]cannot publish to the broker at {settings.kafka_bootstrap or 'the embedded broker'} "
            f"({type(exc).__name__}): is `kaizen up` running? Importing again is safe (the same events, "
            "dropped as duplicates); `--dry-run` checks the file without a broker.[/red]"
        )
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        for table in report_tables(report):
            console.print(table)
    if not report.interactions and report.skipped:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
