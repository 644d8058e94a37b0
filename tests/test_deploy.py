"""docker-compose.yml, deploy/ and the --real-engines option: checked against the code they deploy."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kaizen.config import Settings
from tests.support.compose import (
    COMPOSE_FILE,
    DEPLOY,
    FAUST_SERVICES,
    INIT_TOPICS,
    KAIZEN_SERVICES,
    ONE_SHOTS,
    PLATFORM_SERVICES,
    REPO,
    SECRETS,
    SHARED_VOLUMES,
    TEST_ENV,
    VOLUMES,
    compose_plugin,
    env_file,
    interpolate,
    published_ports,
    service_env,
    settings_of,
    volume_mounts,
)


def test_compose_names_every_service_and_volume(compose: dict[str, Any]) -> None:
    services = set(compose["services"])
    expected = KAIZEN_SERVICES | PLATFORM_SERVICES
    assert services >= expected, f"missing services: {expected - services}"
    assert set(compose["volumes"]) >= VOLUMES | SHARED_VOLUMES
    used = {v for s in compose["services"].values() for v in volume_mounts(s)}
    assert used <= set(compose["volumes"]), f"undeclared volumes: {used - set(compose['volumes'])}"
    assert set(compose["volumes"]) <= used, f"declared but unused: {set(compose['volumes']) - used}"


def test_every_kaizen_variable_is_a_settings_field(raw_compose: dict[str, Any]) -> None:
    fields = {f"KAIZEN_{name.upper()}" for name in Settings.model_fields}
    texts = {
        "docker-compose.yml": COMPOSE_FILE.read_text(),
        "deploy/Dockerfile": (DEPLOY / "Dockerfile").read_text(),
        "deploy/.env.example": (DEPLOY / ".env.example").read_text(),
        "deploy/kafka-3.env": (DEPLOY / "kafka-3.env").read_text(),
    }
    for name, text in texts.items():
        used = set(re.findall(r"\bKAIZEN_[A-Z0-9_]+", text))
        assert used, name
        assert used <= fields, f"{name} uses KAIZEN_ variables Settings does not know: {sorted(used - fields)}"


@pytest.mark.parametrize("service", sorted(KAIZEN_SERVICES))
def test_kaizen_services_load_their_settings(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = compose["services"][service]
    settings = settings_of(service_env(spec), monkeypatch)
    assert settings.kafka_bootstrap == "kafka:9092"
    assert not settings.is_tansu, "real Kafka: the Tansu workarounds must stay off"
    assert settings.resolved_vector_store_url == "http://weaviate:8080"
    assert settings.prefect_api_url == "http://prefect-server:4200/api"
    assert settings.topic_partitions >= 4, "partitions bound how far serving scales"
    # Each shared volume is mounted exactly where these settings look for it.
    expected = {
        "models": settings.resolved_models_dir,
        "datasets": settings.datasets_dir,
        "adapters": settings.registry_dir,
    }
    for volume, target in volume_mounts(spec).items():
        assert Path(target) == expected[volume], f"{service}: {volume} at {target}, settings use {expected[volume]}"


def test_gateway_settings_come_from_the_environment(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = compose["services"]["gateway"]
    settings = settings_of(service_env(gateway), monkeypatch)
    assert {t.get_secret_value(): v for t, v in settings.api_tokens.items()} == {"tok": "acme"}
    assert settings.gateway_host == "0.0.0.0"
    assert any(p.endswith(str(settings.gateway_port)) or p == "8080" for p in published_ports(gateway))


def test_services_that_need_files_share_them(compose: dict[str, Any]) -> None:
    mounts = {name: set(volume_mounts(spec)) for name, spec in compose["services"].items()}
    assert {"models", "adapters"} <= mounts["serving"]  # base model + hot-swapped adapters
    assert {"models", "datasets", "adapters"} <= mounts["trainer"] == mounts["trainer-gpu"]
    assert "datasets" in mounts["curator"]
    assert "models" in mounts["model-prepare"]


def test_commands_are_runnable_in_this_code() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    runner = CliRunner()
    from kaizen.cli.main import app

    for name, spec in raw["services"].items():
        command = spec.get("command")
        if name not in KAIZEN_SERVICES or not command:
            continue
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, f"{name}: no module {command[2]}"
        elif command[0] == "kaizen":
            result = runner.invoke(app, [*command[1:], "--help"])
            assert result.exit_code == 0, f"{name}: `{' '.join(command)}` is not a command:\n{result.output}"
        else:
            assert command[1] == "/app/deploy/kafka/init_topics.py", name
            assert INIT_TOPICS.exists()


def test_long_running_services_have_health_checks_and_restart(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        if name in ONE_SHOTS:
            assert spec.get("restart") in ("no", None), f"{name} is a one-shot job"
            continue
        assert spec.get("restart") in ("unless-stopped", "always", "on-failure"), f"{name}: no restart policy"
        assert spec.get("healthcheck", {}).get("test"), f"{name}: no health check"


def test_dependants_wait_for_health_not_start(compose: dict[str, Any]) -> None:
    for name in KAIZEN_SERVICES - ONE_SHOTS:
        depends = compose["services"][name]["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy", name
        assert depends["topics-init"]["condition"] == "service_completed_successfully", name
    assert compose["services"]["serving"]["depends_on"]["model-prepare"]["condition"] == (
        "service_completed_successfully"
    )


def test_stream_services_scale_with_scale_flag(compose: dict[str, Any]) -> None:
    for name in FAUST_SERVICES:
        spec = compose["services"][name]
        assert "container_name" not in spec, f"{name}: a fixed container name prevents --scale"
        assert not published_ports(spec), f"{name}: a published host port prevents --scale"


def test_gpu_profile_reserves_an_nvidia_device(compose: dict[str, Any]) -> None:
    gpu = compose["services"]["trainer-gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert "gpu" in device["capabilities"]
    assert "cu" in str(gpu["build"]["args"]["TORCH_INDEX_URL"]).rsplit("/", 1)[-1]
    assert compose["services"]["trainer"]["build"]["args"]["TORCH_INDEX_URL"].endswith("/whl/cpu")
    assert gpu["command"] == compose["services"]["trainer"]["command"], "same flows on CPU or GPU"


def test_kafka_runs_kraft_with_one_broker_or_three(raw_compose: dict[str, Any]) -> None:
    def brokers(env: dict[str, str]) -> dict[str, dict[str, str]]:
        doc = interpolate(raw_compose, TEST_ENV | env)
        return {n: service_env(s) for n, s in doc["services"].items() if n.startswith("kafka")}

    def voters(broker_envs: dict[str, dict[str, str]]) -> set[str]:
        return {f"{env['KAFKA_NODE_ID']}@{name}:9093" for name, env in broker_envs.items()}

    single = brokers({})
    assert single["kafka"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "controller" in single["kafka"]["KAFKA_PROCESS_ROLES"]
    assert "profiles" not in raw_compose["services"]["kafka"]
    assert all(raw_compose["services"][n]["profiles"] == ["kafka-3"] for n in ("kafka-2", "kafka-3"))

    three_env = env_file(DEPLOY / "kafka-3.env")
    assert three_env["COMPOSE_PROFILES"] == "kafka-3"
    three = brokers(three_env)
    assert len({e["KAFKA_NODE_ID"] for e in three.values()}) == 3
    for env in three.values():
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters(three)
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
    assert set(three_env["KAIZEN_KAFKA_BOOTSTRAP"].split(",")) == {f"{n}:9092" for n in three}
    assert three_env["KAIZEN_TOPIC_REPLICATION"] == "3"


def test_secrets_are_not_in_the_compose_file(raw_compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    for secret in SECRETS:
        assert re.search(rf"\$\{{{secret}:\?", text), f"{secret} must be required from .env, not written here"
        assert not re.search(rf"^\s*{secret}:\s*[^$\s]", text, re.M), f"{secret} has a literal value"
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required <= set(env_file(DEPLOY / ".env.example")), "every required variable is in .env.example"
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(raw_compose, {k: v for k, v in TEST_ENV.items() if k != "POSTGRES_PASSWORD"})


@pytest.mark.skipif(not compose_plugin(), reason="the docker compose plugin is not installed")
def test_docker_compose_config_accepts_the_file() -> None:
    result = subprocess.run(
        ["docker", "compose", "--profile", "kafka-3", "--profile", "gpu", "config", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=os.environ | TEST_ENV,
        check=False,
    )
    assert result.returncode == 0, result.stderr
