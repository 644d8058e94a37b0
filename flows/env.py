"""Prefect configuration for every process that runs Kaizen flows: offline, no telemetry, state under data_dir."""

from __future__ import annotations

import os

from kaizen.config import Settings, get_settings


def apply_prefect_env(settings: Settings | None = None) -> dict[str, str]:
    """Export ``settings.prefect_env()``; must run before Prefect reads its settings (i.e. before the first flow)."""
    env = (settings or get_settings()).prefect_env()
    os.environ.update(env)
    return env
