"""``kaizen flows serve|run``: Prefect deployments and one-off runs (Prefect's environment is set first)."""

from __future__ import annotations

import typer
from rich.console import Console

from kaizen.config import get_settings

flows_app = typer.Typer(help="Retraining flows (Prefect).", no_args_is_help=True)
run_app = typer.Typer(help="Run one flow now, in this process.", no_args_is_help=True)
flows_app.add_typer(run_app, name="run")
console = Console()


@flows_app.command()
def serve(tenant: list[str] = typer.Option(["default"], help="Tenants to retrain (repeatable).")) -> None:
    """Serve the deployments: retrain every retrain_interval_seconds and when retrain_min_new_examples arrive."""
    from flows.deployments import serve_deployments  # importing ``flows`` applies the Prefect environment

    settings = get_settings()
    console.print(
        f"serving retrain (every {settings.retrain_interval_seconds}s, or after "
        f"{settings.retrain_min_new_examples} new examples) for {', '.join(tenant)}"
    )
    serve_deployments(settings, tenant)


@run_app.command("retrain")
def run_retrain(
    tenant: str = "default",
    dataset_version: str | None = typer.Option(
        None, "--dataset", help="A dataset version, a unique prefix or latest[:tenant]; default: a new snapshot."
    ),
    method: str | None = typer.Option(None, help="lora | prefix | ptuning | freeze; default: by dataset size."),
    steps: int | None = typer.Option(None, help="Optimizer steps (default: from epochs)."),
) -> None:
    from flows.retrain import retrain

    overrides = {"steps": steps} if steps else None
    outcome = retrain(tenant=tenant, dataset_version=dataset_version, method=method, overrides=overrides)
    console.print_json(outcome.model_dump_json(exclude={"event"}))


@run_app.command("evaluate")
def run_evaluate(
    version: str | None = typer.Argument(None, help="Adapter version; omit for the base model."),
    tenant: str = "default",
    dataset_version: str | None = typer.Option(None, "--dataset", help="A dataset version; default: a new snapshot."),
) -> None:
    from flows.evaluate import evaluate_adapter

    scores = evaluate_adapter(version=version, tenant=tenant, dataset_version=dataset_version)
    console.print_json(data={"heldout": scores.heldout, "regression": scores.regression})


@run_app.command("bootstrap")
def run_bootstrap(knowledge_base: str, tenant: str = "default", n_chunks: int = 50) -> None:
    from flows.bootstrap import bootstrap

    manifest = bootstrap(knowledge_base=knowledge_base, tenant=tenant, n_chunks=n_chunks)
    console.print(f"dataset version {manifest.version}: {manifest.counts.raft} RAFT examples")


def register(app: typer.Typer) -> None:
    app.add_typer(flows_app, name="flows")
