"""deploy/kafka (topics and the init job), the image, Prometheus, and the --real-engines option."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from kaizen.config import Settings
from kaizen.topics import Topics
from tests.fixtures.containers import docker_unavailable_reason
from tests.support.compose import DEPLOY, FAUST_SERVICES, INIT_TOPICS, REPO, service_env, settings_of

TOPICS_FILE = DEPLOY / "kafka" / "topics.yaml"


def load_init_topics() -> Any:
    spec = importlib.util.spec_from_file_location("kaizen_deploy_init_topics", INIT_TOPICS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- topics -----------------------------------------------------------------------------------------------------
def test_topics_yaml_matches_the_topic_specs(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_of(service_env(compose["services"]["topics-init"]), monkeypatch)
    init_topics = load_init_topics()
    specs = init_topics.resolve_specs(init_topics.load_topics_file(TOPICS_FILE), settings)
    code = Topics.from_settings(settings).specs()
    assert [(s.name, s.partitions, s.compacted) for s in specs] == [(s.name, s.partitions, s.compacted) for s in code]
    retention = {s.name.removeprefix(f"{settings.topic_prefix}."): s.retention_ms for s in specs}
    assert retention["documents"] == retention["adapters"] == -1, "replaying these rebuilds state"
    assert all(r is not None for r in retention.values()), "every topic states its retention"


def test_topics_drift_is_reported_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    init_topics = load_init_topics()
    topics_file = init_topics.load_topics_file(TOPICS_FILE)
    topics = dict(topics_file.topics)
    topics.pop("feedback")
    topics["requests-typo"] = topics["documents"]
    topics["adapters"] = topics["adapters"].model_copy(update={"partitions": 3})
    drifted = topics_file.model_copy(update={"topics": topics})
    settings = Settings(_env_file=None, topic_prefix="kaizen", topic_partitions=12)  # type: ignore[call-arg]
    with pytest.raises(init_topics.TopicsDriftError) as error:
        init_topics.resolve_specs(drifted, settings)
    message = str(error.value)
    assert "missing topic kaizen.feedback" in message
    assert "unknown topic kaizen.requests-typo" in message
    assert "kaizen.adapters: 3 partitions" in message
    with pytest.raises(init_topics.TopicsDriftError, match="12 partitions in the file, 6 in the code"):
        init_topics.resolve_specs(topics_file, settings.with_overrides(topic_partitions=6))


def test_bad_topics_file_is_a_clear_error(tmp_path: Path) -> None:
    init_topics = load_init_topics()
    bad = tmp_path / "topics.yaml"
    bad.write_text("prefix: kaizen\ntopics:\n  feedback: {partitions: 0}\n")
    with pytest.raises(ValueError, match="not a valid topics file"):
        init_topics.load_topics_file(bad)


def test_init_job_creates_the_topics_on_a_broker(kafka_bootstrap: str, tmp_path: Path) -> None:
    """The compose job's exact entry point, against the session's broker (Tansu, or Kafka with --real-engines)."""
    prefix = f"d{uuid.uuid4().hex[:10]}"
    topics = tmp_path / "topics.yaml"
    topics.write_text(TOPICS_FILE.read_text().replace("prefix: kaizen", f"prefix: {prefix}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIZEN_")} | {
        "KAIZEN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "KAIZEN_TOPIC_PREFIX": prefix,
        "KAIZEN_TOPIC_PARTITIONS": "12",
        "KAIZEN_DATA_DIR": str(tmp_path / "data"),
        "KAIZEN_CONFIG_FILE": str(tmp_path / "none.toml"),
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(INIT_TOPICS), str(topics)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    specs = Topics(prefix=prefix, partitions=12).specs()
    assert first.stdout.count("created ") == len(specs)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([s.name for s in specs])}
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs])
    finally:
        admin.close()
    assert described == {s.name: s.partitions for s in specs}
    # Tansu reports no topic configs; Apache Kafka (--real-engines) does, and they carry the file's retention.
    retention = {
        name: str(
            values["retention.ms"].get("value") if isinstance(values["retention.ms"], dict) else values["retention.ms"]
        )
        for name, values in configs.get("topic", {}).items()
        if values
    }
    file_retention = {
        f"{prefix}.{k}": str(v["retention_ms"]) for k, v in yaml.safe_load(topics.read_text())["topics"].items()
    }
    assert all(retention[name] == file_retention[name] for name in retention)
    again = run()
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("exists ") == len(specs), "a second run changes nothing"
    env["KAIZEN_TOPIC_PARTITIONS"] = "6"
    drift = run()
    assert drift.returncode == 2
    assert "partitions in the file" in drift.stderr


# --- image and monitoring ---------------------------------------------------------------------------------------
def test_dockerfile_is_multistage_and_unprivileged() -> None:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2 and all(" AS " in s for s in stages), stages
    final = lines[lines.index(stages[-1]) :]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the runtime stage must run as a non-root user"
    assert any(line.startswith("COPY --from=") for line in final), "the runtime copies the built environment"
    assert not any("build-essential" in line for line in final), "no toolchain in the runtime stage"
    torch = next(i for i, line in enumerate(lines) if "torch==" in line)
    project = next(i for i, line in enumerate(lines) if re.search(r"pip install \.", line))
    assert torch < project, "torch must come from its own index before the project pulls a default build"
    assert "https://download.pytorch.org/whl/cpu" in "\n".join(lines)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text()
    assert ".venv" not in ignore and ignore.splitlines()[1] == "**", "the context is an allow-list"


def test_prometheus_scrapes_the_gateway_and_every_service(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"gateway"} | FAUST_SERVICES <= set(jobs)
    for name in {"gateway"} | FAUST_SERVICES:
        env = service_env(compose["services"][name])
        port = int(env.get("KAIZEN_GATEWAY_PORT" if name == "gateway" else "KAIZEN_SERVICE_WEB_PORT", 0))
        (sd,) = jobs[name]["dns_sd_configs"]
        assert sd["names"] == [name] and sd["port"] == port, name
        assert jobs[name]["metrics_path"] == "/metrics"
    mounted = compose["services"]["prometheus"]["volumes"][0]
    assert "deploy/prometheus/prometheus.yml" in str(mounted)


# --- the --real-engines option ----------------------------------------------------------------------------------
PROBE = """
def test_kafka(real_kafka_bootstrap):
    assert real_kafka_bootstrap is None

def test_weaviate(real_weaviate_url):
    assert real_weaviate_url is None
"""


def run_probe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(PROBE)
    return subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "tests.fixtures.containers", "-p", "no:cacheprovider"),
            *("-rs", "-q", "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_probe.py"), *args),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_the_option_the_embedded_engines_are_used(tmp_path: Path) -> None:
    result = run_probe(tmp_path)
    assert "2 passed" in result.stdout, result.stdout + result.stderr


@pytest.mark.skipif(docker_unavailable_reason() is None, reason="a Docker engine is available here")
def test_real_engines_are_skipped_with_the_reason_without_docker(tmp_path: Path) -> None:
    result = run_probe(tmp_path, "--real-engines")
    assert "2 skipped" in result.stdout, result.stdout + result.stderr
    assert "--real-engines needs a Docker engine" in result.stdout
