"""How ``kaizen up`` shows the platform: a rich table of parts and the addresses people need."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from kaizen.platform.state import PartState, PartStatus

_STYLE = {
    PartState.healthy: "green",
    PartState.external: "cyan",
    PartState.starting: "yellow",
    PartState.waiting: "dim",
    PartState.exited: "red",
    PartState.restarting: "yellow",
    PartState.stopped: "dim",
}


def status_line(status: PartStatus) -> str:
    style = _STYLE[status.state]
    where = f" {status.address}" if status.address else ""
    pid = f" (pid {status.pid})" if status.pid else ""
    detail = f" {status.detail}" if status.detail else ""
    return f"[{style}]{status.name}: {status.state}[/]{where}{pid}{detail}"


def status_table(statuses: Sequence[PartStatus], *, title: str = "Kaizen platform") -> Table:
    table = Table(title=title)
    table.add_column("Part", style="bold")
    table.add_column("Address")
    table.add_column("PID", justify="right")
    table.add_column("Health")
    table.add_column("Log", overflow="fold")
    for status in statuses:
        health = f"[{_STYLE[status.state]}]{status.state}[/]" + (f" ({status.detail})" if status.detail else "")
        table.add_row(
            status.name,
            status.address,
            str(status.pid or ""),
            health,
            str(status.log_path or ""),
        )
    return table
