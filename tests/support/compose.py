"""docker-compose.yml as the deploy tests read it: the model with every profile on, a service's environment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaizen.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"
INIT_TOPICS = DEPLOY / "kafka" / "init_topics.py"

# What the code expects to find in a deployment.
FAUST_SERVICES = {"serving", "curator", "indexer"}
KAIZEN_SERVICES = FAUST_SERVICES | {"gateway", "topics-init", "model-prepare", "trainer", "trainer-gpu"}
PLATFORM_SERVICES = {"kafka", "kafka-2", "kafka-3", "weaviate", "postgres", "prefect-server", "prometheus"}
ONE_SHOTS = {"topics-init", "model-prepare"}
VOLUMES = {"kafka-data", "kafka-2-data", "kafka-3-data", "weaviate-data", "postgres-data", "prometheus-data"}
SHARED_VOLUMES = {"models", "datasets", "adapters"}
SECRETS = {"POSTGRES_PASSWORD", "KAIZEN_API_TOKENS", "KAIZEN_WEAVIATE_API_KEY"}
# Values an operator would put in .env; the defaults in the compose file supply everything else.
TEST_ENV = {
    "POSTGRES_PASSWORD": "pw",
    "KAIZEN_API_TOKENS": '{"tok": "acme"}',
    "KAIZEN_WEAVIATE_API_KEY": "key",
}
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# --- loading ----------------------------------------------------------------------------------------------------
def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} over a parsed document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        current = env.get(name)
        if op.endswith("?") and not current:
            raise KeyError(f"{name}: {arg}")
        if op.endswith("-") and not current:
            return arg
        return current or ""

    return _VAR.sub(one, value).replace("$$", "$")


def compose_plugin() -> bool:
    if not shutil.which("docker"):
        return False
    result = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return result.returncode == 0


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose model with every profile on: `docker compose config` where it exists, else PyYAML."""
    env = TEST_ENV | (env or {})
    if compose_plugin():
        out = subprocess.run(
            ["docker", "compose", "--profile", "kafka-3", "--profile", "gpu", "config", "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={k: v for k, v in os.environ.items() if k != "COMPOSE_PROFILES"} | env,
        )
        return json.loads(out.stdout)
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), env)


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
    return {k.strip(): v.strip() for k, v in pairs}


def service_env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {k: "" if v is None else str(v) for k, v in environment.items()}


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings exactly as a container with this environment builds them (no .env, no kaizen.toml)."""
    for name in list(os.environ):
        if name.startswith("KAIZEN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KAIZEN_CONFIG_FILE", "/nonexistent/kaizen.toml")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Named volume -> mount path."""
    mounts: dict[str, str] = {}
    for item in service.get("volumes") or []:
        if isinstance(item, dict):
            if item.get("type") == "volume":
                mounts[item["source"]] = item["target"]
            continue
        source, target = item.split(":")[:2]
        if not source.startswith((".", "/")):
            mounts[source] = target
    return mounts


def published_ports(service: dict[str, Any]) -> list[str]:
    return [str(p["published"]) if isinstance(p, dict) else str(p) for p in service.get("ports") or []]


# --- the compose file -------------------------------------------------------------------------------------------
