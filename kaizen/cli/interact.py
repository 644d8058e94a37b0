"""``kaizen ask`` and ``kaizen feedback``: talk to a running platform through the gateway."""

from __future__ import annotations

import uuid

import httpx
import typer
from rich.console import Console
from rich.table import Table

from kaizen.config import Settings
from kaizen.events import InteractionResponse, Mode
from kaizen.gateway.client import GatewayClient, GatewayError, default_token, default_url

console = Console()
err = Console(stderr=True)


def _client(url: str | None, token: str | None) -> GatewayClient:
    settings = Settings()
    return GatewayClient(url or default_url(settings), token or default_token(settings))


def _print_response(response: InteractionResponse, *, streamed: bool = False) -> None:
    if response.error:
        err.print(f"[red]error:[/] {response.error}")
    elif not streamed:
        console.print(response.answer or "[dim](empty answer)[/]")
    if response.citations:
        table = Table("#", "knowledge base", "document", "title", "quote", title="citations")
        for i, c in enumerate(response.citations, 1):
            table.add_row(str(i), c.knowledge_base, c.document_id, c.title, c.quote[:80])
        console.print(table)
    console.print(
        f"[dim]strategy={response.strategy} adapter={response.adapter_version or 'base'} "
        f"latency={response.latency_ms:.0f}ms[/]"
    )
    console.print(f"response id: [bold]{response.response_id}[/]")


def ask(
    question: str = typer.Argument(..., help="The question."),
    mode: Mode = typer.Option(Mode.auto, help="Strategy: auto, direct, cot, rag, chain, agent."),
    kb: list[str] = typer.Option([], "--kb", help="Knowledge base to search (repeatable)."),
    user: str = typer.Option("cli", help="User id (canary routing is by user)."),
    adapter: str | None = typer.Option(None, help="Pin an adapter version."),
    max_new_tokens: int = typer.Option(128, min=1, max=4096),
    timeout: float = typer.Option(300.0, help="Seconds to wait for the answer."),
    url: str | None = typer.Option(None, help="Gateway URL (default from settings)."),
    token: str | None = typer.Option(None, help="Bearer token (default from settings: tenant default)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole response event as JSON."),
) -> None:
    """Ask a question; prints the answer, its citations and the response id for `kaizen feedback`."""
    body = {
        "question": question,
        "mode": mode.value,
        "knowledge_bases": kb,
        "user_id": user,
        "options": {"max_new_tokens": max_new_tokens, "adapter": adapter},
    }
    streamed = False

    def show(text: str) -> None:
        nonlocal streamed
        streamed = True
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)

    try:
        with _client(url, token) as client:
            if as_json:
                with console.status("waiting for the answer"):
                    response = client.ask(body, timeout=timeout)
            else:
                # The answer appears as the model decodes it.
                response = client.stream(body, show, timeout=timeout)
    except (GatewayError, TimeoutError, httpx.HTTPError) as exc:
        err.print(f"[red]ask failed:[/] {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        console.print_json(response.model_dump_json())
    else:
        if streamed:
            console.print()
        _print_response(response, streamed=streamed)
    if response.error:
        raise typer.Exit(2)


def feedback(
    response_id: uuid.UUID = typer.Argument(..., help="The response id `kaizen ask` printed."),
    up: bool = typer.Option(False, "--up", help="Thumbs up."),
    down: bool = typer.Option(False, "--down", help="Thumbs down."),
    rating: int | None = typer.Option(None, min=1, max=5, help="Rating 1-5."),
    correction: str | None = typer.Option(None, help="The right answer."),
    comment: str | None = typer.Option(None),
    user: str = typer.Option("cli"),
    url: str | None = typer.Option(None, help="Gateway URL (default from settings)."),
    token: str | None = typer.Option(None, help="Bearer token (default from settings: tenant default)."),
) -> None:
    """Send feedback on a response: thumbs, a rating, a correction."""
    if up and down:
        raise typer.BadParameter("--up and --down exclude each other")
    if not (up or down or rating or correction or comment):
        raise typer.BadParameter("give at least one of --up, --down, --rating, --correction, --comment")
    body = {
        "response_id": str(response_id),
        "user_id": user,
        "thumbs": "up" if up else "down" if down else None,
        "rating": rating,
        "correction": correction,
        "comment": comment,
    }
    try:
        with _client(url, token) as client:
            event_id = client.feedback(body)
    except (GatewayError, httpx.HTTPError) as exc:
        err.print(f"[red]feedback failed:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"feedback recorded: {event_id}")


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
    app.command("feedback")(feedback)
