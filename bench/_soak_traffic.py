"""The soak's users (bench/soak.py): the demo's simulated users, asking and giving feedback through the gateway."""

from __future__ import annotations

import itertools
import threading
import time

import httpx
from pydantic import BaseModel

from bench._soak_summary import percentile
from kaizen.config import Settings
from kaizen.demo.domain import DemoQuestion, shipped_domain
from kaizen.demo.plan import STREAM_MODES
from kaizen.demo.runner import document_events
from kaizen.demo.users import Exchange, SimulatedUsers
from kaizen.gateway.client import GatewayClient, GatewayError
from kaizen.retrieval.factory import make_store

TOKEN = "soak-token"
TENANT = "default"
ANSWER_TIMEOUT_S = 300.0


def ingest(gateway: str, settings: Settings, timeout: float = 900) -> int:
    """The shipped domain's documents through ``POST /v1/documents``; returns once the indexer holds them all."""
    events = document_events(shipped_domain(), TENANT)
    with GatewayClient(gateway, TOKEN) as client:
        for e in events:
            client.document(e.model_dump(mode="json", include={"document_id", "knowledge_base", "title", "text"}))
    store = make_store(settings, dimension=384)
    pending = {(e.knowledge_base, e.document_id) for e in events}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = {
            (kb, doc)
            for kb, doc in pending
            if store.document_hash(tenant=TENANT, knowledge_base=kb, document_id=doc) is None
        }
        if pending:
            time.sleep(2)
    if pending:
        raise TimeoutError(f"{len(pending)} of {len(events)} documents were not indexed within {timeout:.0f} s")
    return len(events)


class Counts(BaseModel):
    sent: int = 0  # accepted by the gateway
    answered: int = 0
    answered_with_error: int = 0  # a response that carries an error (still an answer: nothing was lost)
    submit_failed: int = 0  # the gateway refused or did not answer the POST
    timed_out: int = 0  # accepted, no response within ANSWER_TIMEOUT_S
    feedback_sent: int = 0
    feedback_failed: int = 0
    corrections: int = 0
    with_sources: int = 0

    @property
    def lost(self) -> int:
        return self.timed_out


class Traffic:
    """``users`` threads, each asking the next stream question of the shipped domain, waiting for the answer, giving
    the simulated user's feedback (thumbs up, or down with the correction and sometimes the source document), then
    thinking ``think_s`` seconds. Closed loop: the rate is what the machine serves."""

    def __init__(self, gateway: str, *, users: int, think_s: float) -> None:
        domain = shipped_domain()
        self.gateway = gateway
        self.users = SimulatedUsers(Settings(), knowledge_bases=list(domain.knowledge_bases), tenant=TENANT)
        self.think_s = think_s
        self._questions = itertools.cycle(enumerate(domain.questions("stream")))
        self._n_users = users
        self._lock = threading.Lock()
        self._counts = Counts()
        self._latencies: list[float] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self._n_users):
            thread = threading.Thread(target=self._user, name=f"soak-user-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop asking; every question in flight gets its answer (or its timeout) first."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=ANSWER_TIMEOUT_S + 30)

    def counts(self) -> Counts:
        with self._lock:
            return self._counts.model_copy()

    def latency(self) -> dict[str, float | None]:
        with self._lock:
            values = list(self._latencies)
        return {"latency_p50_s": percentile(values, 50), "latency_p95_s": percentile(values, 95)}

    def _add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._counts, name, getattr(self._counts, name) + delta)

    def _next(self) -> tuple[int, DemoQuestion]:
        with self._lock:
            return next(self._questions)

    def _user(self) -> None:
        with GatewayClient(self.gateway, TOKEN, timeout=60) as client:
            while not self._stop.is_set():
                self._one(client)
                self._stop.wait(self.think_s)

    def _one(self, client: GatewayClient) -> None:
        i, question = self._next()
        mode = STREAM_MODES[i % len(STREAM_MODES)]
        body = self.users.body(question, mode, salt="soak", with_pii=True)
        began = time.monotonic()
        try:
            request_id = client.submit(body.model_dump(mode="json"))
        except (GatewayError, httpx.HTTPError):
            self._add(submit_failed=1)
            return
        self._add(sent=1)
        try:
            response = client.wait(request_id, timeout=ANSWER_TIMEOUT_S)
        except (TimeoutError, GatewayError, httpx.HTTPError):
            self._add(timed_out=1)
            return
        with self._lock:
            self._latencies.append(time.monotonic() - began)
        self._add(answered=1, answered_with_error=int(bool(response.error)))
        request = body.to_event(TENANT).model_copy(update={"event_id": request_id})
        feedback = self.users.feedback_body(Exchange(question=question, request=request, response=response))
        if feedback is None:
            return
        try:
            client.feedback(feedback.model_dump(mode="json", exclude_none=True))
        except (GatewayError, httpx.HTTPError):
            self._add(feedback_failed=1)
            return
        self._add(
            feedback_sent=1,
            corrections=int(feedback.correction is not None),
            with_sources=int(bool(feedback.source_document_ids)),
        )
