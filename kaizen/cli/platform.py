"""``kaizen up`` (and, from the demo area, ``kaizen demo``)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from kaizen.config import get_settings

console = Console()


def up(
    only: list[str] = typer.Option(None, "--only", help="Start only these parts (repeatable)."),
    skip: list[str] = typer.Option(None, "--skip", help="Do not start these parts (repeatable)."),
) -> None:
    """Start the broker, serving, curator, indexer, gateway, Prefect and the flow deployments; Ctrl-C stops all."""
    from kaizen.platform import Platform, PlatformError
    from kaizen.platform.parts import ALL_PARTS
    from kaizen.platform.signals import termination_interrupts
    from kaizen.platform.status import status_line, status_table

    settings = get_settings()
    parts = [name for name in (only or ALL_PARTS) if name not in (skip or [])]
    platform = Platform(settings, parts=parts, on_change=lambda status: console.log(status_line(status)))
    try:
        with termination_interrupts(), platform:
            console.print(status_table(platform.statuses()))
            if platform.gateway_url:
                console.print(f"Gateway: [bold]{platform.gateway_url}[/]")
            if platform.prefect_dashboard_url:
                console.print(f"Prefect dashboard: [bold]{platform.prefect_dashboard_url}[/]")
            console.print(f"Logs: {settings.data_dir.resolve() / 'logs'}   Ctrl-C stops everything.")
            platform.wait()
    except KeyboardInterrupt:
        console.print("stopped; nothing is left running.")
    except PlatformError as exc:
        # Text, not markup: a log line like "[INFO]" must print as written.
        body = Text(exc.summary)
        if exc.log_tail:
            body.append(f"\n\n{exc.log_path}\n", style="dim").append(exc.log_tail)
        console.print(Panel(body, title=f"{exc.part or 'platform'} failed", border_style="red"))
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    app.command()(up)
    # ``kaizen demo`` is registered here too (demo area).
