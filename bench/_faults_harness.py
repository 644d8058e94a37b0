"""The fault suite's harness: one supervised platform, parts killed and their recovery timed (bench/faults.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

from kafka import KafkaProducer
from pydantic import BaseModel

from kaizen.config import Settings
from kaizen.platform import PartState, Platform, PlatformError
from kaizen.topics import Topics


class FaultResult(BaseModel):
    fault: str
    sent: int
    answered: int
    lost: int
    duplicated: int  # downstream: in the datasets, the index, or what the gateway returns
    redelivered: int = 0  # raw duplicates on a topic (at-least-once), removed downstream
    recover_s: float | None = None
    passed: bool = False
    note: str = ""


class Suite:
    """One platform for every fault; a thread keeps the supervisor checking (and restarting) parts."""

    def __init__(self, settings: Settings) -> None:
        self.platform = Platform(settings, parts=["broker", "serving", "curator", "indexer", "gateway"])
        self.failure: PlatformError | None = None
        self._stop = threading.Event()

    def __enter__(self) -> Suite:
        self.platform.start()
        self.settings = self.platform.child_settings
        self.topics = Topics.from_settings(self.settings)
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.platform.stop()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                self.platform.check()
            except PlatformError as exc:
                self.failure = exc
                return
            time.sleep(0.25)

    def kill(self, part: str) -> float:
        """SIGKILL the part's whole process group (the broker: Tansu itself); returns when."""
        status = {s.name: s for s in self.platform.statuses()}[part]
        assert status.pid is not None, part
        if part == "broker":
            os.kill(status.pid, signal.SIGKILL)
        else:
            os.killpg(status.pid, signal.SIGKILL)
        return time.monotonic()

    def recovered(self, part: str, old_pid: int | None, since: float, timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = {s.name: s for s in self.platform.statuses()}[part]
            if status.state == PartState.healthy and status.pid not in (None, old_pid):
                return round(time.monotonic() - since, 2)
            if self.failure is not None:
                raise self.failure
            time.sleep(0.1)
        raise TimeoutError(f"{part} did not come back within {timeout} s")

    def pid(self, part: str) -> int | None:
        return {s.name: s for s in self.platform.statuses()}[part].pid

    @contextlib.contextmanager
    def producer(self) -> Iterator[KafkaProducer]:
        producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all", retries=20)
        try:
            yield producer
        finally:
            producer.close()
