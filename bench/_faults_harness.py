"""The fault suite's harness: one supervised platform, parts killed and their recovery timed (bench/faults.py)."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
from kafka import KafkaProducer
from pydantic import BaseModel

from kaizen.config import Settings
from kaizen.datasets.store import DatasetStore
from kaizen.events import (
    Citation,
    Feedback,
    InstructionExample,
    InteractionRequest,
    InteractionResponse,
    Mode,
    RequestOptions,
)
from kaizen.platform import PartState, Platform, PlatformError
from kaizen.streaming.consumer import read_events
from kaizen.topics import Topics

SHORT = RequestOptions(max_new_tokens=4)  # the faults are about delivery, not about answers
TOKEN = "faults-token"
TENANT = "faults"


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


def kill_midway(
    suite: Suite, part: str, send: Callable[[int], None], n: int, *, after: int
) -> tuple[float | None, int | None]:
    """Send ``n`` events one by one; SIGKILL ``part`` once ``after`` are sent. Returns (kill time, old pid)."""
    killed_at, old = None, None
    for i in range(n):
        send(i)
        if i == after:
            old = suite.pid(part)
            killed_at = suite.kill(part)
        time.sleep(0.05)
    return killed_at, old


def short_requests(tag: str, n: int) -> list[InteractionRequest]:
    return [
        InteractionRequest(tenant=TENANT, question=f"{tag} {i}?", mode=Mode.direct, options=SHORT) for i in range(n)
    ]


def responses_to(suite: Suite, requests: list[InteractionRequest], timeout: float = 600) -> list[InteractionResponse]:
    """Every response on the topic to one of ``requests`` (redeliveries included), waiting for one per request."""
    ids = {r.event_id for r in requests}
    return read_events(
        suite.settings,
        suite.topics.responses,
        InteractionResponse,
        where=lambda r: r.request_id in ids,
        count=len(requests),
        timeout=timeout,
    )


def delivery(fault: str, sent: int, got: list[InteractionResponse], recover: float, note: str = "") -> FaultResult:
    """A response per request id is what downstream (gateway, curator) keys on; raw repeats are redeliveries."""
    unique = {r.request_id for r in got}
    return FaultResult(
        fault=fault,
        sent=sent,
        answered=len(unique),
        lost=sent - len(unique),
        duplicated=0,
        redelivered=len(got) - len(unique),
        recover_s=recover,
        passed=len(unique) == sent,
        note=note,
    )


def answered_by(suite: Suite, tag: str, n: int) -> list[str | None]:
    """Send ``n`` short requests of the fault tenant; the adapter version each was answered with."""
    requests = short_requests(tag, n)
    with suite.producer() as producer:
        for r in requests:
            producer.send(suite.topics.requests, r.to_bytes())
        producer.flush()
    got = responses_to(suite, requests, timeout=300)
    return [r.adapter_version for r in {r.request_id: r for r in got}.values()]


def refused_adapter_events(suite: Suite) -> float:
    url = {s.name: s for s in suite.platform.statuses()}["serving"].address
    text = httpx.get(f"http://{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("kaizen_adapter_events_total{") and 'outcome="failed"' in line
    )


def responses_and_feedback(n: int, tag: str) -> tuple[list[InteractionResponse], list[Feedback]]:
    responses = []
    for i in range(n):
        request_id = uuid.uuid5(uuid.NAMESPACE_URL, f"faults/{tag}/{i}")
        responses.append(
            InteractionResponse(
                tenant=TENANT,
                request_id=request_id,
                response_id=InteractionResponse.response_id_for(request_id),
                question=f"Which lamp of Quillmoor lights at hour {i} ({tag})?",
                answer=f"Lamp {i} of the {tag} row lights at hour {i}.",
                strategy="rag",
                citations=[Citation(document_id="d", chunk_id="d#0", knowledge_base="kb", quote=f"lamp {i}")],
                retrieved_chunk_ids=["d#0"],
            )
        )
    feedback = [Feedback(tenant=TENANT, response_id=r.response_id, rating=5) for r in responses]
    return responses, feedback


def curated_examples(suite: Suite, tag: str, n: int) -> list[InstructionExample]:
    return read_events(
        suite.settings,
        suite.topics.instructions,
        InstructionExample,
        where=lambda e: f"({tag})" in e.instruction,
        count=n,
        timeout=300,
    )


def other_examples(suite: Suite, version: str) -> int:
    """Examples in the dataset from other faults' traffic (e.g. the serving fault's answers get no feedback)."""
    store = DatasetStore.from_settings(suite.settings)
    return sum(1 for e in store.instructions(version) if "(curator)" not in e.instruction)


def b64(value: str) -> bytes:
    return base64.b64decode(value)
