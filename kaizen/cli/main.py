"""The ``kaizen`` command. Each area registers its commands from its own module."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="kaizen",
    help="Kaizen: an event-driven data flywheel for LLMs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Each module exposes ``register(app: typer.Typer) -> None``.
_AREAS = (
    "kaizen.cli.schemas",  # kaizen schemas export|check
    "kaizen.cli.broker",  # kaizen broker
    "kaizen.cli.model",  # kaizen model prepare|info
    "kaizen.cli.knowledge",  # kaizen ingest, kaizen search
    "kaizen.cli.interact",  # kaizen ask, kaizen feedback
    "kaizen.cli.datasets",  # kaizen datasets list|show|export|stats
    "kaizen.cli.importing",  # kaizen import FILE --format ...
    "kaizen.cli.adapters",  # kaizen adapters list|show|promote|rollback
    "kaizen.cli.flows",  # kaizen flows serve|run
    "kaizen.cli.platform",  # kaizen up, kaizen demo
)

for _name in _AREAS:
    importlib.import_module(_name).register(app)


if __name__ == "__main__":
    app()
