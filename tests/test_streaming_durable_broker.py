"""The embedded broker on its default S3 storage (SeaweedFS under <data_dir>/broker) keeps everything over restarts."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import psutil
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kaizen.config import Settings
from kaizen.streaming.broker import EmbeddedBroker

TOPIC = "durable"


def _produce(bootstrap: str, n: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(n):
        producer.send(TOPIC, key=str(i).encode(), value=f"v{i}".encode(), partition=i % 2)
    producer.flush()
    producer.close()


def _consume(bootstrap: str, *, group: str | None = None, limit: int | None = None) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=4000 if group is None else 20000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    if group is None:
        consumer.assign([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
    else:
        consumer.subscribe([TOPIC])
    values: list[bytes] = []
    for message in consumer:
        values.append(message.value)
        if limit is not None and len(values) == limit:
            break
    if group is not None:
        consumer.commit()
    consumer.close()
    return values


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, topic_prefix="dur")


def _create_topic(bootstrap: str) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(TOPIC, 2, 1)])
    admin.close()


def test_records_and_committed_offsets_survive_a_clean_restart(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with EmbeddedBroker(settings) as broker:
        assert broker.store is not None and broker.store.is_running()
        _create_topic(broker.bootstrap)
        _produce(broker.bootstrap, 40)
        first = _consume(broker.bootstrap, group="g", limit=25)
    assert len(first) == 25
    assert not (tmp_path / "broker" / "weed.pid").exists()

    with EmbeddedBroker(settings) as broker:  # new ports, same data directory
        everything = _consume(broker.bootstrap)
        rest = _consume(broker.bootstrap, group="g")  # the group resumes where it committed
    assert sorted(everything) == sorted(f"v{i}".encode() for i in range(40))
    assert sorted(first + rest) == sorted(everything)  # each record once to the group, across the restart


def test_a_killed_broker_and_store_are_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    broker = EmbeddedBroker(settings).start()
    _create_topic(broker.bootstrap)
    _produce(broker.bootstrap, 30)
    orphans = [broker.pid, broker.store.pid if broker.store else None]
    # As when `kaizen up` is SIGKILLed: its children live on in their own sessions, holding the data directory.
    broker._proc = None
    assert broker.store is not None
    broker.store._proc = None

    with EmbeddedBroker(settings) as again:
        values = _consume(again.bootstrap)
    assert sorted(values) == sorted(f"v{i}".encode() for i in range(30))
    for pid in orphans:
        assert pid is not None
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_sigkill_of_the_broker_loses_no_acknowledged_record(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    broker = EmbeddedBroker(settings).start()
    _create_topic(broker.bootstrap)
    _produce(broker.bootstrap, 20)
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGKILL)
    broker.stop()
    with EmbeddedBroker(settings) as again:
        assert len(_consume(again.bootstrap)) == 20


def test_credentials_are_generated_per_data_directory_and_private(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    keys = []
    for data in (first, second):
        broker = EmbeddedBroker(Settings(data_dir=data))
        assert broker.store is not None
        path = data / "broker" / "credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        keys.append(json.loads(path.read_text())["secret_key"])
        assert keys[-1] not in repr(broker.store.credentials)  # SecretStr: never in a repr or a log line
    assert keys[0] != keys[1]
    # The same directory keeps its credentials: the data written with them stays readable.
    again = EmbeddedBroker(Settings(data_dir=first))
    assert again.store is not None and again.store.credentials.secret_value == keys[0]


def test_memory_storage_stays_available_and_forgets(tmp_path: Path) -> None:
    settings = _settings(tmp_path).with_overrides(broker_storage="memory")
    with EmbeddedBroker(settings) as broker:
        assert broker.store is None
        _create_topic(broker.bootstrap)
        _produce(broker.bootstrap, 5)
    assert not (tmp_path / "broker").exists()
    with EmbeddedBroker(settings) as broker:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        assert TOPIC not in admin.list_topics()
        admin.close()


def test_the_filer_keeps_metadata_in_one_leveldb_and_an_old_data_dir_keeps_leveldb2(tmp_path: Path) -> None:
    # leveldb2's eight databases (16 MB memtable + 32 MB block cache each) made the store's RSS grow for hours.
    with EmbeddedBroker(_settings(tmp_path), log_path=tmp_path / "logs" / "broker.log") as broker:
        _produce(broker.bootstrap, 10)
        assert len(_consume(broker.bootstrap)) == 10
    log = (tmp_path / "logs" / "object-store.log").read_text()
    assert "configured filer store to leveldb\n" in log
    assert (tmp_path / "broker" / "data" / "filerldb").is_dir()
    assert not (tmp_path / "broker" / "data" / "filerldb2").exists()

    old = tmp_path / "old"
    (old / "broker" / "data" / "filerldb2").mkdir(parents=True)  # made by the default before this change
    store = EmbeddedBroker(Settings(data_dir=old)).store
    assert store is not None
    assert '[leveldb2]\nenabled = true\ndir = "' in (store._filer_config() / "filer.toml").read_text()
