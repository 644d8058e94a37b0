"""Topic administration over the Kafka protocol (works on Tansu and Apache Kafka alike)."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from kaizen.config import Settings
from kaizen.topics import Topics, TopicSpec


def bootstrap_servers(settings: Settings) -> list[str]:
    if not settings.kafka_bootstrap:
        raise ValueError("no Kafka bootstrap configured (start the embedded broker first)")
    return [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]


def wait_for_admin(bootstrap: str, *, timeout: float = 30.0, alive: Callable[[], bool] = lambda: True) -> None:
    """Wait until the broker answers an admin request, not merely accepts TCP."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"broker at {bootstrap} exited during start-up")
        try:
            client = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
            try:
                client.list_topics()
                return
            finally:
                client.close()
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.05)
    raise TimeoutError(f"broker at {bootstrap} did not answer within {timeout:.0f}s: {last}")


def _topic_config(spec: TopicSpec) -> dict[str, str]:
    config: dict[str, str] = {}
    if spec.compacted:
        config["cleanup.policy"] = "compact"
    if spec.retention_ms is not None:
        config["retention.ms"] = str(spec.retention_ms)
    return config


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create any missing Kaizen topic; returns the names created. Existing topics are left as they are."""
    specs = specs if specs is not None else Topics.from_settings(settings).specs()
    client = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings), request_timeout_ms=10000)
    try:
        existing = set(client.list_topics())
        created: list[str] = []
        for spec in specs:
            if spec.name in existing:
                continue
            topic = NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=settings.topic_replication,
                topic_configs=_topic_config(spec),
            )
            try:
                client.create_topics([topic])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        client.close()


def main() -> None:
    """``python -m kaizen.streaming.admin``: create the topics on the configured cluster (compose init job)."""
    settings = Settings()
    wait_for_admin(settings.kafka_bootstrap, timeout=120)
    for name in ensure_topics(settings):
        print(f"created {name}")


if __name__ == "__main__":
    main()
