"""``kaizen schemas export|check``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from kaizen import schemas

console = Console()
schemas_app = typer.Typer(help="JSON Schema of the wire events.", no_args_is_help=True)
DEFAULT_DIR = Path("schemas")


@schemas_app.command("export")
def export(directory: Path = typer.Option(DEFAULT_DIR, "--dir", help="Output directory.")) -> None:
    """Write one JSON Schema file per event."""
    for path in schemas.export(directory):
        console.print(f"wrote {path}")


@schemas_app.command("check")
def check(directory: Path = typer.Option(DEFAULT_DIR, "--dir")) -> None:
    """Fail if the checked-in schemas differ from the code, and say whether the change keeps compatibility."""
    console.print(f"rule: {schemas.COMPATIBILITY}")
    incompatible = schemas.compatibility_report(directory)
    for name, problems in incompatible.items():
        console.print(f"[red]{name} changed incompatibly:[/] {'; '.join(problems)} — bump schema_version")
    problems = schemas.stale(directory)
    if problems:
        console.print(f"[red]stale schemas:[/] {', '.join(problems)} — run `kaizen schemas export`")
    if problems or incompatible:
        raise typer.Exit(1)
    console.print("schemas are up to date")


def register(app: typer.Typer) -> None:
    app.add_typer(schemas_app, name="schemas")
