"""The parts ``kaizen up`` runs, each as a ``PartSpec`` built from the settings."""

from __future__ import annotations

import sys
from pathlib import Path

from kaizen.config import Settings
from kaizen.platform.process import PartSpec
from kaizen.streaming.broker import free_port

SERVING = "serving"
SERVICES = (SERVING, "curator", "indexer")
BROKER = "broker"
GATEWAY = "gateway"
PREFECT = "prefect"
FLOWS = "flows"
# Start order; the broker is not a PartSpec (EmbeddedBroker runs it) but it is a part all the same.
ALL_PARTS = (BROKER, *SERVICES, GATEWAY, PREFECT, FLOWS)
LOOPBACK = "127.0.0.1"


def _probe_host(host: str) -> str:
    return LOOPBACK if host in ("", "0.0.0.0", "::") else host


def prefect_api_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}/api"


def child_env(settings: Settings) -> dict[str, str]:
    """What every child needs: the settings as ``KAIZEN_*`` and Prefect's offline environment."""
    return settings.to_env() | settings.prefect_env()


def service_part(settings: Settings, name: str) -> PartSpec:
    port = settings.service_web_port or free_port()
    return PartSpec(
        name=name,
        command=[sys.executable, "-m", f"services.{name}"],
        env=child_env(settings) | {"KAIZEN_SERVICE_WEB_PORT": str(port)},
        health_url=f"http://{LOOPBACK}:{port}/healthz",
        address=f"{LOOPBACK}:{port}",
        start_timeout=settings.platform_start_timeout,
    )


def gateway_part(settings: Settings) -> PartSpec:
    url = f"http://{_probe_host(settings.gateway_host)}:{settings.gateway_port}"
    return PartSpec(
        name=GATEWAY,
        command=[sys.executable, "-m", "services.gateway"],
        env=child_env(settings),
        health_url=f"{url}/healthz",
        address=url,
        start_timeout=settings.platform_start_timeout,
    )


def prefect_server_part(settings: Settings, port: int) -> PartSpec:
    return PartSpec(
        name=PREFECT,
        command=[sys.executable, "-m", "prefect", "server", "start", "--host", LOOPBACK, "--port", str(port)],
        env=child_env(settings),
        health_url=f"http://{LOOPBACK}:{port}/api/health",
        address=f"http://{LOOPBACK}:{port}",
        start_timeout=settings.platform_start_timeout,
    )


def flows_part(settings: Settings, *, after_prefect: bool) -> PartSpec:
    # Prefect's runner web server answers /health once the deployments are registered and it polls for work.
    port = free_port()
    runner = {
        "PREFECT_RUNNER_SERVER_ENABLE": "true",
        "PREFECT_RUNNER_SERVER_HOST": LOOPBACK,
        "PREFECT_RUNNER_SERVER_PORT": str(port),
    }
    return PartSpec(
        name=FLOWS,
        command=[sys.executable, "-m", "kaizen.cli.main", "flows", "serve"],
        env=child_env(settings) | runner,
        health_url=f"http://{LOOPBACK}:{port}/health",
        address=f"runner {LOOPBACK}:{port}",
        after=[PREFECT] if after_prefect else [],
        start_timeout=settings.platform_start_timeout,
    )


def default_parts(settings: Settings, *, prefect_port: int | None) -> list[PartSpec]:
    """Every part but the broker. ``settings`` already name the broker (and the Prefect API, when one runs).

    ``prefect_port`` None means Prefect runs elsewhere (``settings.prefect_api_url``) and is not started here.
    """
    parts = [service_part(settings, name) for name in SERVICES]
    # The console asks each serving replica which adapters it runs.
    serving = [p.health_url.removesuffix("/healthz") for p in parts if p.name == SERVING]
    parts.append(gateway_part(settings.with_overrides(serving_urls=serving)))
    if prefect_port is not None:
        parts.append(prefect_server_part(settings, prefect_port))
    parts.append(flows_part(settings, after_prefect=prefect_port is not None))
    return parts


def logs_dir(settings: Settings) -> Path:
    return (settings.data_dir / "logs").resolve()
