import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from kafka import KafkaAdminClient

from kaizen.config import Settings
from kaizen.streaming.admin import ensure_topics
from kaizen.streaming.broker import EmbeddedBroker
from kaizen.topics import Topics

REPO = Path(__file__).resolve().parents[1]


def _tansu_children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if "tansu" in p.name()}


def test_start_creates_topics_and_stop_leaves_no_process(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, topic_prefix="brk")
    before = _tansu_children()
    names = Topics.from_settings(settings)
    with EmbeddedBroker(settings) as broker:
        pid = broker.pid
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            topics = set(admin.list_topics())
            described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names.names())}
        finally:
            admin.close()
        assert set(names.names()) <= topics
        assert described[names.requests] == settings.topic_partitions
        assert described[names.adapters] == 1
        # Creating them again is a no-op, not an error.
        assert ensure_topics(settings.with_overrides(kafka_bootstrap=broker.bootstrap)) == []
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _tansu_children() == before


def test_cli_broker_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIZEN_")}
    env |= {"KAIZEN_DATA_DIR": str(tmp_path), "KAIZEN_TOPIC_PREFIX": "cli"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kaizen.cli.main", "broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
        text=True,
    )
    lines = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "bootstrap=" in line:
            break
    else:
        proc.kill()
        pytest.fail("".join(lines))
    broker_pids = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
    assert broker_pids, "the broker runs as a child process"
    bootstrap = line.split("bootstrap=")[1].split()[0]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    assert "cli.feedback" in admin.list_topics()
    admin.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    time.sleep(0.2)
    for pid in broker_pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_unreachable_broker_fails_with_a_clear_error(tmp_path: Path) -> None:
    from kaizen.streaming.admin import wait_for_admin

    with pytest.raises(TimeoutError, match="did not answer"):
        wait_for_admin("127.0.0.1:1", timeout=1.0)
