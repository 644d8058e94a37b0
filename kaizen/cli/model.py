"""``kaizen model prepare|info``: the base model on disk and what loading it gives."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from kaizen.config import get_settings

console = Console()
model_app = typer.Typer(help="The base model: prepare the default, show what is loaded.", no_args_is_help=True)


@model_app.command("prepare")
def prepare() -> None:
    """Convert the packaged Gemma 3 270M into a Hugging Face directory (once; later runs return at once)."""
    from kaizen.llm.prepare import default_model_dir, is_prepared, prepare_default_model

    settings = get_settings()
    target = default_model_dir(settings)
    if is_prepared(target):
        console.print(f"[green]already prepared[/green] {target}")
        return
    with console.status("preparing the default model (about 2 minutes)") as status:
        path = prepare_default_model(settings, progress=lambda message: status.update(message))
    console.print(f"[green]prepared[/green] {path}")


@model_app.command("info")
def info() -> None:
    """Load the base model (and the registry's promoted adapter, if any) and describe it."""
    from kaizen.llm.prepare import resolve_base_model

    settings = get_settings()
    with console.status("loading the base model"):
        from kaizen.llm.model import load_model

        lm = load_model(resolve_base_model(settings), settings.model_dtype, settings.torch_threads, settings.device)
    table = Table(show_header=False)
    rows = {
        "path": str(lm.model_dir.resolve()),
        "architecture": ", ".join(getattr(lm.model.config, "architectures", None) or [type(lm.model).__name__]),
        "parameters": f"{lm.parameters:,}",
        "device": str(lm.device),
        "dtype": str(lm.dtype).removeprefix("torch."),
        "vocabulary": f"{len(lm.tokenizer):,}",
        "context": f"{lm.context_length:,} tokens",
        "eos ids": ", ".join(map(str, lm.eos_ids)),
        "chat template": "yes" if lm.tokenizer.chat_template else "no",
        "fingerprint": lm.fingerprint,
        "adapters loaded": _promoted_adapter(settings, lm.fingerprint),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    console.print(table)


def _promoted_adapter(settings: object, fingerprint: str) -> str:
    """The registry's promoted adapter, which is what a serving engine loads at start."""
    from kaizen.registry import AdapterRegistry

    registry = AdapterRegistry(settings.registry_dir)  # type: ignore[attr-defined]
    promoted = registry.promoted()
    if promoted is None:
        return "none (base model)"
    fits = "fits this base" if promoted.base_model_hash == fingerprint else "trained on another base model"
    return f"{promoted.version} (promoted, {fits})"


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
