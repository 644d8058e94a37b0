"""The fault suite: the real platform (durable broker, serving with the real model, curator, indexer, gateway) under
the supervisor, one fault at a time, mid-stream. For each fault: events sent, answered, lost and duplicated
downstream, and the seconds until the faulty part served again.

``python bench/faults.py [--quick]`` writes bench/results/faults.json (``--quick``: fewer events, for CI).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._faults_harness import (  # noqa: E402
    SHORT,
    TENANT,
    TOKEN,
    FaultResult,
    Suite,
    b64,
    curated_examples,
    delivery,
    kill_midway,
    other_examples,
    responses_and_feedback,
    responses_to,
    short_requests,
)
from bench._faults_stored import fault_corrupt_adapter, fault_disk_full  # noqa: E402
from kaizen.config import Settings  # noqa: E402
from kaizen.datasets.store import DatasetStore  # noqa: E402
from kaizen.events import (  # noqa: E402
    DeadLetter,
    DocumentEvent,
    InteractionRequest,
    InteractionResponse,
    Mode,
)
from kaizen.retrieval.factory import make_store  # noqa: E402
from kaizen.streaming.consumer import read_events  # noqa: E402
from tests.support.malformed_events import MALFORMED  # noqa: E402


def fault_serving(suite: Suite, n: int) -> FaultResult:
    requests = short_requests("Say the number", n)
    with suite.producer() as producer:
        killed, old = kill_midway(
            suite, "serving", lambda i: producer.send(suite.topics.requests, requests[i].to_bytes()), n, after=n // 3
        )
        producer.flush()
    assert killed is not None
    recover = suite.recovered("serving", old, killed)
    return delivery("kill -9 serving", n, responses_to(suite, requests), recover, "a response per request id")


def fault_curator(suite: Suite, n: int) -> FaultResult:
    responses, feedback = responses_and_feedback(n, "curator")
    with suite.producer() as producer:
        for r in responses:
            producer.send(suite.topics.responses, r.to_bytes(), key=str(r.response_id).encode())
        killed, old = kill_midway(
            suite,
            "curator",
            lambda i: producer.send(
                suite.topics.feedback, feedback[i].to_bytes(), key=str(feedback[i].response_id).encode()
            ),
            n,
            after=n // 2,
        )
        producer.flush()
    assert killed is not None
    recover = suite.recovered("curator", old, killed)
    examples = curated_examples(suite, "curator", n)
    unique = {e.example_id for e in examples}
    snapshot = DatasetStore.from_settings(suite.settings).snapshot(TENANT)
    return FaultResult(
        fault="kill -9 curator",
        sent=n,
        answered=len(unique),
        lost=n - len(unique),
        duplicated=max(0, snapshot.counts.instructions - len(unique) - other_examples(suite, snapshot.version)),
        redelivered=len(examples) - len(unique),
        recover_s=recover,
        passed=len(unique) == n,
        note="answered = curated examples; duplicated = extra examples in the dataset version",
    )


def fault_indexer(suite: Suite, n: int) -> FaultResult:
    documents = [
        DocumentEvent(
            tenant=TENANT,
            document_id=f"doc-{i}",
            knowledge_base="faults",
            text=f"Quillmoor's tower number {i} has {i + 3} bells and a copper roof.",
        )
        for i in range(n)
    ]
    with suite.producer() as producer:
        killed, old = kill_midway(
            suite, "indexer", lambda i: producer.send(suite.topics.documents, documents[i].to_bytes()), n, after=n // 2
        )
        producer.flush()
    assert killed is not None
    recover = suite.recovered("indexer", old, killed)
    store = make_store(suite.settings, dimension=0)
    deadline = time.monotonic() + 300
    stored = 0
    while time.monotonic() < deadline:
        stored = sum(
            1
            for d in documents
            if store.document_hash(tenant=TENANT, knowledge_base="faults", document_id=d.document_id) is not None
        )
        if stored == n:
            break
        time.sleep(1)
    chunks = store.count(tenant=TENANT, knowledge_base="faults") if stored else 0
    return FaultResult(
        fault="kill -9 indexer",
        sent=n,
        answered=stored,
        lost=n - stored,
        duplicated=max(0, chunks - n),
        recover_s=recover,
        passed=stored == n and chunks == n,
        note="one chunk per document; upserts by chunk id",
    )


def fault_gateway(suite: Suite, n: int) -> FaultResult:
    url = suite.platform.gateway_url
    assert url is not None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
        ids = [
            http.post(
                "/v1/interactions",
                json={"question": f"Count to {i}.", "mode": "direct", "options": {"max_new_tokens": 4}},
            ).json()["request_id"]
            for i in range(n)
        ]
    old = suite.pid("gateway")
    killed = suite.kill("gateway")
    recover = suite.recovered("gateway", old, killed)
    answered = 0
    with httpx.Client(base_url=url, timeout=150, headers=headers) as http:
        for request_id in ids:
            got = http.get(f"/v1/interactions/{request_id}", params={"wait": 120})
            answered += got.status_code == 200 and got.json().get("response") is not None
    return FaultResult(
        fault="kill -9 gateway",
        sent=n,
        answered=answered,
        lost=n - answered,
        duplicated=0,
        recover_s=recover,
        passed=answered == n,
        note="accepted before the kill, fetched from the restarted gateway",
    )


def fault_broker(suite: Suite, n: int) -> FaultResult:
    requests = short_requests("Name the colour", n)
    with suite.producer() as producer:
        for r in requests[: n // 2]:
            producer.send(suite.topics.requests, r.to_bytes())
        producer.flush()
        old = suite.pid("broker")
        killed = suite.kill("broker")
        recover = suite.recovered("broker", old, killed)
        for r in requests[n // 2 :]:  # the producer reconnects to the restarted broker
            producer.send(suite.topics.requests, r.to_bytes())
        producer.flush()
    return delivery("broker restart (kill -9)", n, responses_to(suite, requests), recover)


def fault_malformed(suite: Suite) -> FaultResult:
    valid = [
        InteractionRequest(tenant=TENANT, question=f"Valid {i}?", mode=Mode.direct, options=SHORT) for i in range(3)
    ]
    with suite.producer() as producer:
        for name, (raw, _) in MALFORMED.items():
            producer.send(suite.topics.requests, raw, key=f"malformed:{name}".encode())
        for r in valid:
            producer.send(suite.topics.requests, r.to_bytes())
        producer.flush()
    letters = read_events(
        suite.settings,
        suite.topics.dead_letters,
        DeadLetter,
        where=lambda d: d.original_key is not None and b"malformed:" in b64(d.original_key),
        count=len(MALFORMED),
        timeout=300,
    )
    ids = {r.event_id for r in valid}
    answered = read_events(
        suite.settings,
        suite.topics.responses,
        InteractionResponse,
        where=lambda r: r.request_id in ids,
        count=len(valid),
        timeout=300,
    )
    with_reason = sum(1 for d in letters if d.error)
    return FaultResult(
        fault=f"{len(MALFORMED)} kinds of malformed event",
        sent=len(MALFORMED) + len(valid),
        answered=len({r.request_id for r in answered}),
        lost=len(MALFORMED) - with_reason,
        duplicated=0,
        passed=with_reason == len(MALFORMED) and len({r.request_id for r in answered}) == len(valid),
        note="each dead-lettered with its reason; the valid ones around them answered",
    )


def fault_duplicates(suite: Suite, n: int) -> FaultResult:
    """Every response and feedback of the curator fault delivered again: the dataset version does not change."""
    store = DatasetStore.from_settings(suite.settings)
    before = store.snapshot(TENANT)
    responses, feedback = responses_and_feedback(n, "curator")
    with suite.producer() as producer:
        for event in [*responses, *feedback]:
            producer.send(
                suite.topics.responses if isinstance(event, InteractionResponse) else suite.topics.feedback,
                event.to_bytes(),
            )
        producer.flush()
    time.sleep(8)  # the curator's batches: well past its quarter-second window
    after = store.snapshot(TENANT)
    return FaultResult(
        fault="duplicate delivery of a whole stream",
        sent=2 * n,
        answered=0,
        lost=0,
        duplicated=after.counts.instructions - before.counts.instructions,
        passed=after.version == before.version,
        note=f"dataset version {before.version} -> {after.version}",
    )


def run(quick: bool) -> dict[str, object]:
    n = 12 if quick else 60
    work = Path(tempfile.mkdtemp(prefix="kaizen-faults-"))
    settings = Settings(
        data_dir=work / "data",
        models_dir=Settings().resolved_models_dir.resolve(),  # the prepared model, not a second conversion
        topic_prefix="faults",
        api_tokens={TOKEN: TENANT},
        gateway_port=0,
        feedback_wait_seconds=120.0,
        platform_restarts=10,
        max_text_chars=4_000,  # the malformed "oversized" event is 5000 characters
    )
    results: list[FaultResult] = []
    started = time.monotonic()
    with Suite(settings) as suite:
        for fault in (
            lambda: fault_serving(suite, n),
            lambda: fault_corrupt_adapter(suite, max(4, n // 4)),
            lambda: fault_curator(suite, n),
            lambda: fault_duplicates(suite, n),
            lambda: fault_indexer(suite, n),
            lambda: fault_gateway(suite, max(4, n // 4)),
            lambda: fault_broker(suite, n),
            lambda: fault_malformed(suite),
            lambda: fault_disk_full(n),
        ):
            result = fault()
            print(result.model_dump_json(), flush=True)
            results.append(result)
    return {
        "quick": quick,
        "events_per_fault": n,
        "seconds": round(time.monotonic() - started, 1),
        "faults": [r.model_dump() for r in results],
        "lost": sum(r.lost for r in results),
        "duplicated": sum(r.duplicated for r in results),
        "all_recovered": all(r.passed for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.json")
    args = parser.parse_args()
    report = run(args.quick)
    if not args.quick or not args.out.exists():
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "faults"}))
    sys.exit(0 if report["all_recovered"] else 1)


if __name__ == "__main__":
    main()
