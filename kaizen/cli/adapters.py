"""``kaizen adapters list|show|promote|canary|rollback``: the adapter registry from the command line."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from kaizen.config import get_settings
from kaizen.events import AdapterEvent
from kaizen.registry import AdapterManifest, AdapterRegistry, RegistryError, operations

adapters = typer.Typer(help="Adapter versions: list, inspect, promote, roll back.", no_args_is_help=True)
console = Console()
_STATUS_STYLE = {"promoted": "bold green", "canary": "yellow", "rejected": "red", "retired": "dim"}


def _registry() -> AdapterRegistry:
    return AdapterRegistry.from_settings(get_settings())


def _publish(event: AdapterEvent) -> None:
    from kaizen.streaming.producer import EventProducer
    from kaizen.topics import Topics

    settings = get_settings()
    with EventProducer(settings) as producer:
        producer.send(Topics.from_settings(settings).adapters, event)
    console.print(f"published [bold]{event.action}[/] {event.version}")


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/] {exc}")
    raise typer.Exit(1)


def manifests_table(manifests: list[AdapterManifest], metric: str) -> Table:
    table = Table(title="Adapters")
    for column in ("version", "tenant", "status", "method", "dataset", f"held-out {metric}", "regression", "parent"):
        table.add_column(column)
    for m in manifests:
        style = _STATUS_STYLE.get(m.status, "")
        held, reg = m.metrics.get(metric), m.regression_metrics.get(metric)
        table.add_row(
            m.version,
            m.tenant,
            f"[{style}]{m.status}[/]" if style else m.status,
            m.method,
            f"{m.dataset_version or '-'} ({m.dataset_examples})",
            "-" if held is None else f"{held:.3f}",
            "-" if reg is None else f"{reg:.3f}",
            m.parent_version or "-",
        )
    return table


@adapters.command("list")
def list_(tenant: str | None = typer.Option(None, help="Only this tenant's versions.")) -> None:
    """Every adapter version, oldest first."""
    settings = get_settings()
    found = [m for m in _registry().list() if tenant is None or m.tenant == tenant]
    console.print(manifests_table(found, settings.retrain_gate_metric))


@adapters.command()
def show(version: str) -> None:
    """One version's full manifest (metrics, hyper-parameters, gate reasons)."""
    try:
        console.print_json(_registry().get(version).model_dump_json())
    except RegistryError as exc:
        _fail(exc)


@adapters.command()
def promote(version: str, publish: bool = typer.Option(True, help="Tell serving (adapters topic).")) -> None:
    """Promote a version (the previously promoted one retires) and tell serving to switch."""
    try:
        event = operations.promote(_registry(), version)
    except RegistryError as exc:
        _fail(exc)
    console.print(f"promoted [bold green]{version}[/]")
    if publish:
        _publish(event)


@adapters.command()
def canary(
    version: str,
    share: float = typer.Option(None, help="Share of users sent to it (default: the canary_share setting)."),
    publish: bool = typer.Option(True, help="Tell serving (adapters topic)."),
) -> None:
    """Send a share of the tenant's users to a version; the promoted one keeps the rest."""
    try:
        event = operations.canary(_registry(), version, share if share is not None else get_settings().canary_share)
    except RegistryError as exc:
        _fail(exc)
    console.print(f"canary [yellow]{version}[/] for {event.canary_share:.0%} of users")
    if publish:
        _publish(event)


@adapters.command()
def rollback(
    tenant: str = typer.Option("default"),
    publish: bool = typer.Option(True, help="Tell serving (adapters topic)."),
) -> None:
    """Retire the promoted version and promote the one it replaced."""
    try:
        event = operations.rollback(_registry(), tenant)
    except RegistryError as exc:
        _fail(exc)
    console.print(f"rolled back to [bold green]{event.version}[/]")
    if publish:
        _publish(event)


def register(app: typer.Typer) -> None:
    app.add_typer(adapters, name="adapters")
