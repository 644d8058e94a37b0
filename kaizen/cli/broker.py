"""``kaizen broker``: the embedded Kafka-protocol broker in the foreground."""

from __future__ import annotations

import typer
from rich.console import Console

from kaizen.config import Settings
from kaizen.streaming.broker import EmbeddedBroker, wait_until_stopped
from kaizen.topics import Topics

console = Console()


def broker(port: int = typer.Option(0, help="Port on 127.0.0.1; 0 = settings or a free port.")) -> None:
    """Start the embedded broker, create Kaizen's topics, print the bootstrap address; Ctrl-C stops it."""
    settings = Settings()
    embedded = EmbeddedBroker(settings, port=port or None)
    with console.status("starting the embedded broker"):
        embedded.start()
    topics = Topics.from_settings(settings)
    console.print(f"[green]broker ready[/] bootstrap={embedded.bootstrap} pid={embedded.pid}")
    console.print(f"topics: {', '.join(topics.names())}")
    if embedded.store is not None:
        console.print(f"storage: {settings.broker_dir} (S3 at {embedded.store.endpoint}); survives a restart")
    else:
        console.print("storage: memory (KAIZEN_BROKER_STORAGE=memory): everything is lost when it stops")
    console.print(f"export KAIZEN_KAFKA_BOOTSTRAP={embedded.bootstrap} KAIZEN_BROKER_KIND=tansu")
    wait_until_stopped(embedded)
    console.print("broker stopped")


def register(app: typer.Typer) -> None:
    app.command("broker")(broker)
