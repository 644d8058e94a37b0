"""``Platform`` and ``kaizen up``: start in order, health, failure with a log tail, and nothing left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from kaizen.config import Settings
from kaizen.platform import PartSpec, PartState, PartStatus, Platform, PlatformError
from kaizen.platform.process import live_group_members
from kaizen.streaming.broker import free_port

REPO = Path(__file__).resolve().parents[1]


def http_part(name: str, *, after: list[str] | None = None, delay: float = 0.0, timeout: float = 30) -> PartSpec:
    """A real child that serves HTTP on a free port, optionally only after ``delay`` seconds."""
    port = free_port()
    code = (
        f"import time, http.server; time.sleep({delay}); "
        f"http.server.ThreadingHTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)"
        ".serve_forever()"
    )
    return PartSpec(
        name=name,
        command=[sys.executable, "-c", code],
        health_url=f"http://127.0.0.1:{port}/",
        address=f"127.0.0.1:{port}",
        after=after or [],
        start_timeout=timeout,
    )


def crashing_part(name: str) -> PartSpec:
    code = "import sys; print('boom: the [fake] config is missing', flush=True); sys.exit(3)"
    return PartSpec(name=name, command=[sys.executable, "-c", code], health_url=f"http://127.0.0.1:{free_port()}/")


def stubborn_part(name: str) -> PartSpec:
    """Ignores SIGTERM and has a grandchild in its process group: only SIGKILL to the group ends both."""
    port = free_port()
    grandchild = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    code = textwrap.dedent(f"""
        import http.server, signal, subprocess, sys
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.Popen([sys.executable, "-c", {grandchild!r}])
        http.server.ThreadingHTTPServer(("127.0.0.1", {port}), http.server.SimpleHTTPRequestHandler).serve_forever()
    """)
    return PartSpec(
        name=name, command=[sys.executable, "-c", code], health_url=f"http://127.0.0.1:{port}/", start_timeout=30
    )


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", **changes)  # type: ignore[arg-type]


def assert_gone(pgids: list[int]) -> None:
    left = {pgid: live_group_members(pgid) for pgid in pgids}
    assert not any(left.values()), f"processes left running: {left}"


def test_starts_parts_in_dependency_order_and_reports_health(tmp_path: Path) -> None:
    slow = http_part("slow", delay=1.0)
    fast = http_part("fast", after=["slow"])
    changes = []
    with Platform(settings_for(tmp_path), specs=[fast, slow], on_change=changes.append) as platform:
        statuses = {s.name: s for s in platform.statuses()}
        assert {s.state for s in statuses.values()} == {PartState.healthy}
        assert httpx.get(slow.health_url).status_code == 200
        slow_proc, fast_proc = platform.process("slow"), platform.process("fast")
        assert slow_proc and fast_proc and slow_proc.healthy_at and fast_proc.started_at
        assert fast_proc.started_at >= slow_proc.healthy_at  # "after" waits for health, not just for launch
        pgids = [s.pid for s in statuses.values() if s.pid]
        platform.check()
    assert_gone(pgids)
    assert [c.state for c in changes if c.name == "fast"][-1] == PartState.stopped
    assert (tmp_path / "data" / "logs" / "slow.log").exists()


def test_a_part_that_exits_stops_the_rest_and_shows_its_log(tmp_path: Path) -> None:
    good = http_part("good")
    platform = Platform(settings_for(tmp_path), specs=[good, crashing_part("bad")])
    with pytest.raises(PlatformError) as err:
        platform.start()
    assert err.value.part == "bad"
    assert "exited with code 3" in err.value.summary
    assert "boom: the [fake] config is missing" in err.value.log_tail
    good_proc = platform.process("good")
    assert good_proc is not None and good_proc.pid
    assert_gone([good_proc.pid])


def test_a_part_never_healthy_times_out(tmp_path: Path) -> None:
    never = PartSpec(
        name="never",
        command=[sys.executable, "-c", "import time; print('waiting forever', flush=True); time.sleep(600)"],
        health_url=f"http://127.0.0.1:{free_port()}/",
        start_timeout=1.5,
    )
    platform = Platform(settings_for(tmp_path), specs=[never], poll_seconds=0.1)
    started = time.monotonic()
    with pytest.raises(PlatformError, match=r"never was not healthy within 2 s") as err:
        platform.start()
    assert time.monotonic() - started < 15
    assert "waiting forever" in err.value.log_tail
    proc = platform.process("never")
    assert proc is not None and proc.pid
    assert_gone([proc.pid])


def test_stop_kills_what_ignores_sigterm_including_grandchildren(tmp_path: Path) -> None:
    platform = Platform(settings_for(tmp_path), specs=[stubborn_part("stubborn")], grace_seconds=1.0)
    platform.start()
    proc = platform.process("stubborn")
    assert proc is not None and proc.pid
    deadline = time.monotonic() + 10
    while len(live_group_members(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(live_group_members(proc.pid)) >= 2  # the part and its grandchild
    started = time.monotonic()
    platform.stop()
    assert time.monotonic() - started < 10
    assert_gone([proc.pid])
    platform.stop()  # idempotent


def test_a_part_stops_before_the_parts_it_started_after(tmp_path: Path) -> None:
    api = http_part("api")
    port = free_port()
    # On SIGTERM the client still needs the api (as the flow runner needs Prefect): it exits 0 only if it answers.
    code = textwrap.dedent(f"""
        import http.server, signal, sys, urllib.request
        def bye(*_):
            urllib.request.urlopen({api.health_url!r}, timeout=5)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        handler = http.server.SimpleHTTPRequestHandler
        http.server.ThreadingHTTPServer(("127.0.0.1", {port}), handler).serve_forever()
    """)
    client = PartSpec(
        name="client",
        command=[sys.executable, "-c", code],
        health_url=f"http://127.0.0.1:{port}/",
        after=["api"],
    )
    with Platform(settings_for(tmp_path), specs=[api, client], grace_seconds=5) as platform:
        proc = platform.process("client")
    assert proc is not None and proc.returncode == 0


def test_a_part_dying_later_is_reported_when_restarts_are_off(tmp_path: Path) -> None:
    with Platform(settings_for(tmp_path, platform_restarts=0), specs=[http_part("web")]) as platform:
        proc = platform.process("web")
        assert proc is not None and proc.pid
        os.killpg(proc.pid, signal.SIGKILL)
        with pytest.raises(PlatformError, match="web exited with code -9"):
            platform.wait(poll_seconds=0.1)


def _until(platform: Platform, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        platform.check()
        time.sleep(0.1)


def test_a_crashed_part_is_restarted_with_backoff_until_it_keeps_crashing(tmp_path: Path) -> None:
    web = http_part("web")
    changes: list[PartStatus] = []
    settings = settings_for(tmp_path, platform_restarts=2)
    with Platform(settings, specs=[web], on_change=changes.append) as platform:
        delays = []
        for _ in range(2):
            proc = platform.process("web")
            assert proc is not None and proc.pid
            os.killpg(proc.pid, signal.SIGKILL)
            killed = time.monotonic()
            _until(
                platform, lambda old=proc: (new := platform.process("web")) is not old and new.healthy_at is not None
            )
            delays.append(time.monotonic() - killed)
            assert httpx.get(web.health_url).status_code == 200  # serving again
        restarting = [c for c in changes if c.state == PartState.restarting]
        assert [c.detail for c in restarting] == [
            "exited with code -9; restart 1 of 2 in 1 s",
            "exited with code -9; restart 2 of 2 in 2 s",
        ]
        assert delays[1] > delays[0] and delays[1] >= 2.0  # the backoff doubled
        proc = platform.process("web")
        assert proc is not None and proc.pid
        os.killpg(proc.pid, signal.SIGKILL)
        with pytest.raises(PlatformError, match=r"web exited with code -9 \(3 crashes within 600 s"):
            _until(platform, lambda: False)


def test_a_crashed_broker_comes_back_on_its_port_with_its_data(tmp_path: Path) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    settings = settings_for(tmp_path, topic_prefix="rb")
    with Platform(settings, parts=["broker"]) as platform:
        producer = KafkaProducer(bootstrap_servers=platform.bootstrap, acks="all")
        producer.send("rb.feedback", b"before", partition=0)
        producer.flush()
        producer.close()
        broker_pid = platform.statuses()[0].pid
        assert broker_pid is not None
        os.kill(broker_pid, signal.SIGKILL)
        _until(
            platform,
            lambda: (
                platform.statuses()[0].pid not in (None, broker_pid)
                and platform.statuses()[0].state == PartState.healthy
            ),
            timeout=60,
        )
        consumer = KafkaConsumer(bootstrap_servers=platform.bootstrap, consumer_timeout_ms=5000)
        consumer.assign([TopicPartition("rb.feedback", 0)])
        consumer.seek_to_beginning()
        assert [m.value for m in consumer] == [b"before"]
        consumer.close()


def test_unknown_parts_and_busy_ports_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="unknown part"):
        Platform(settings_for(tmp_path), specs=[http_part("web")]).start(["web", "nope"])
    busy = http_part("busy")
    with Platform(settings_for(tmp_path), specs=[busy]):
        port = int(busy.address.rsplit(":", 1)[1])
        platform = Platform(settings_for(tmp_path, gateway_port=port, kafka_bootstrap="127.0.0.1:1"))
        with pytest.raises(PlatformError, match=f"port {port} for the gateway is already in use"):
            platform.start(["gateway"])


def test_services_without_a_broker_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="need a broker"):
        Platform(settings_for(tmp_path, gateway_port=0)).start(["gateway"])


_SUPERVISOR_SCRIPT = """
import json, sys
from kaizen.config import Settings
from kaizen.platform import PartSpec, Platform
from kaizen.platform.signals import termination_interrupts
specs = [PartSpec.model_validate(s) for s in json.loads(sys.argv[2])]
platform = Platform(Settings(data_dir=sys.argv[1]), specs=specs, grace_seconds=2)
try:
    with termination_interrupts(), platform:
        print(json.dumps([s.pid for s in platform.statuses()]), flush=True)
        platform.wait(poll_seconds=0.1)
except KeyboardInterrupt:
    print("stopped", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_supervisor_leaves_nothing_running(tmp_path: Path, sig: signal.Signals) -> None:
    specs = [http_part("one"), stubborn_part("two")]
    supervisor = subprocess.Popen(
        [sys.executable, "-c", _SUPERVISOR_SCRIPT, str(tmp_path), json.dumps([s.model_dump() for s in specs])],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        # As a shell's background job: SIGINT starts ignored, and Ctrl-C must still stop everything.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert supervisor.stdout is not None
        pids = json.loads(supervisor.stdout.readline())
        assert len(pids) == 2
        supervisor.send_signal(sig)
        out, _ = supervisor.communicate(timeout=30)
    finally:
        supervisor.kill()
    assert "stopped" in out
    assert supervisor.returncode == 0
    assert_gone(pids)


def test_kaizen_up_runs_the_real_broker_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "KAIZEN_DATA_DIR": str(tmp_path / "data"), "KAIZEN_KAFKA_BOOTSTRAP": ""}
    up = subprocess.Popen(
        [sys.executable, "-m", "kaizen.cli.main", "up", "--only", "broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert up.stdout is not None
        seen = ""
        deadline = time.monotonic() + 120
        while "Ctrl-C stops everything" not in seen and time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            seen += line
        assert "Kaizen platform" in seen and "healthy" in seen, seen
        broker_pids = [int(pid) for pid in _pids_in_table(seen)]
        assert broker_pids
        up.send_signal(signal.SIGTERM)
        rest, _ = up.communicate(timeout=60)
    finally:
        up.kill()
    assert up.returncode == 0, seen + rest
    assert "nothing is left running" in rest
    assert_gone(broker_pids)


def _pids_in_table(text: str) -> list[str]:
    return re.findall(r"pid (\d+)", text)


@pytest.mark.slow
def test_real_broker_gateway_and_prefect_server(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, gateway_port=0, prefect_port=0, kafka_bootstrap="")
    with Platform(settings, parts=["broker", "gateway", "prefect"]) as platform:
        states = {s.name: s.state for s in platform.statuses()}
        assert states == {"broker": "healthy", "gateway": "healthy", "prefect": "healthy"}
        assert platform.gateway_url and httpx.get(f"{platform.gateway_url}/healthz").status_code == 200
        dashboard = platform.prefect_dashboard_url
        assert dashboard and httpx.get(f"{dashboard}/api/health").status_code == 200
        assert platform.child_settings.prefect_api_url == f"{dashboard}/api"
        pgids = [s.pid for s in platform.statuses() if s.pid]
    assert_gone(pgids)
