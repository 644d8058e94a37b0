"""One supervised child process: its own process group, its own log file, an HTTP health check."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import IO

import httpx
from pydantic import BaseModel, ConfigDict, Field

_HAS_PROC = Path("/proc/self/stat").exists()


class PartSpec(BaseModel):
    """How to run one part of the platform and how to tell that it is ready."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict, description="Added to the inherited environment.")
    health_url: str = Field(description="GET returns 200 when the part is ready.")
    address: str = Field("", description="What the status table shows (a URL or host:port).")
    after: list[str] = Field(default_factory=list, description="Parts that must be healthy before this starts.")
    start_timeout: float = Field(240.0, gt=0, description="Seconds to become healthy after launch.")


def probe(url: str, timeout: float = 1.0) -> bool:
    """True when ``url`` answers 200; any connection error or other status is simply 'not yet'."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that still run (zombies excluded), read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def read_tail(path: Path, lines: int = 30, max_bytes: int = 16_384) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - max_bytes))
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """A part running as a child in a new session, so signals and cleanup reach its whole process tree."""

    def __init__(self, spec: PartSpec, log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        self.started_at: float | None = None
        self.healthy_at: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError(f"{self.spec.name} already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        stamp = datetime.now().isoformat(timespec="seconds")
        self._log.write(f"\n=== {stamp} starting {self.spec.name}: {' '.join(self.spec.command)}\n".encode())
        self._log.flush()
        # The child inherits this process's environment (PATH, HOME, offline flags) plus its own settings.
        env = {**os.environ, **self.spec.env}
        self._proc = subprocess.Popen(
            self.spec.command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Own session and process group: a terminal's Ctrl-C reaches only the supervisor, which then stops
            # children in order; killpg reaches anything a child spawned.
            start_new_session=True,
        )
        self.started_at = time.monotonic()

    def check_health(self) -> bool:
        if self.healthy_at is None and self.alive() and probe(self.spec.health_url):
            self.healthy_at = time.monotonic()
        return self.healthy_at is not None

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the part's process group; False when nothing of it is left."""
        if self._proc is None:
            return False
        try:
            os.killpg(self._proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def group_alive(self) -> bool:
        if self._proc is None:
            return False
        if _HAS_PROC:
            # killpg(0) also succeeds for zombies that an init without reaping keeps around.
            return bool(live_group_members(self._proc.pid))
        return self.signal_group(0)

    def wait_group(self, deadline: float) -> bool:
        """Reap the leader and wait until the whole group is gone or ``deadline`` passes; True if gone."""
        while time.monotonic() < deadline:
            if self._proc is not None:
                self._proc.poll()
            if not self.group_alive():
                return True
            time.sleep(0.05)
        return not self.group_alive()

    def close(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 30) -> str:
        if self._log is not None:
            self._log.flush()
        return read_tail(self.log_path, lines)
