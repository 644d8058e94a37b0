"""``kaizen up`` (and, from the demo area, ``kaizen demo``)."""

from __future__ import annotations

from pathlib import Path

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


def demo(
    cycles: int = typer.Option(None, help="Flywheel cycles (default 2; 1 with --fast)."),
    questions: int = typer.Option(None, help="Simulated users' questions over all cycles."),
    heldout: int = typer.Option(None, help="Held-out questions asked after every cycle, per form."),
    fast: bool = typer.Option(False, "--fast", help="Fewer questions and one cycle, for a first look."),
    output: Path = typer.Option(None, help="Where the JSON report and PNG chart go (default <data_dir>/demo)."),
    general_regression: bool = typer.Option(
        False, "--general-regression", help="Also gate on the shipped general-ability set (the platform default)."
    ),
    domain: Path = typer.Option(
        None, help="A directory of documents and questions.jsonl (default: the shipped Quillmoor domain)."
    ),
) -> None:
    """Start the platform, ingest a domain's documents, turn the flywheel and show held-out accuracy per cycle."""
    from kaizen.demo.domain import DemoDataError, load_domain
    from kaizen.demo.plan import DemoOptions
    from kaizen.demo.runner import DemoError, DemoRunner
    from kaizen.platform import PlatformError
    from kaizen.platform.signals import termination_interrupts

    changes: dict[str, object] = {
        k: v for k, v in {"cycles": cycles, "questions": questions, "heldout": heldout}.items() if v
    }
    if general_regression:
        changes["general_regression"] = True
    options = DemoOptions.fast_defaults(**changes) if fast else DemoOptions(**changes)
    settings = get_settings()
    try:
        chosen = load_domain(domain) if domain is not None else None
    except DemoDataError as exc:
        console.print(Panel(Text(str(exc)), title="the domain directory is not usable", border_style="red"))
        raise typer.Exit(2) from exc
    try:
        # SIGTERM/SIGHUP stop the demo like Ctrl-C: the platform's children are stopped, nothing is left running.
        with termination_interrupts():
            runner = DemoRunner(settings, options, domain=chosen, console=console)
            report = runner.run(output or settings.data_dir / "demo")
    except KeyboardInterrupt:
        console.print("demo interrupted; the platform was stopped.")
        raise typer.Exit(130) from None
    except (DemoError, PlatformError) as exc:
        console.print(Panel(Text(str(exc)), title="demo failed", border_style="red"))
        raise typer.Exit(1) from exc
    if report.flywheel_improved():
        console.print("[green]The flywheel turned: held-out accuracy rose above the base model, closed- and open-book.")
    else:
        console.print("[yellow]Held-out accuracy did not rise above the base model in both forms this run.")


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(demo)
