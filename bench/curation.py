"""Feedback events per second through the curator service versus a bare aiokafka consumer, in one run.

Both read the same feedback topic on the same embedded broker. The curator joins each event to its response
(kept in its Faust table), applies the policy and filters, and publishes one instruction example per event; the
bare consumer only reads the records. Rates are taken between the first and the last record each one handled
(record timestamps for the curator's output, wall clock for the bare consumer), so start-up is not counted.

    python bench/curation.py [--quick] [--events N]

writes bench/results/curation.json. Targets: curator >= 25% of the bare consumer and >= 5,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from kaizen.config import Settings  # noqa: E402
from kaizen.events import Citation, Feedback, InteractionResponse, Thumbs  # noqa: E402
from kaizen.streaming.broker import EmbeddedBroker, free_port  # noqa: E402
from kaizen.topics import Topics  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "curation.json"
QUESTIONS = [
    "What is the capital of France?",
    "How do I rotate the API token for the gateway?",
    "Which knowledge base holds the onboarding guide?",
    "When was the last adapter promoted and why?",
]


def make_events(n: int, tenant: str = "bench") -> tuple[list[InteractionResponse], list[Feedback]]:
    responses, feedback = [], []
    for i in range(n):
        request_id = uuid.uuid4()
        question = f"{QUESTIONS[i % len(QUESTIONS)]} (case {i})"
        answer = (
            f"According to the handbook, case {i} is handled by the platform team. The procedure has three steps: "
            "open the console, choose the tenant, and confirm the change. It takes effect within a minute."
        )
        resp = InteractionResponse(
            tenant=tenant,
            request_id=request_id,
            response_id=InteractionResponse.response_id_for(request_id),
            question=question,
            answer=answer,
            strategy="rag",
            citations=[Citation(document_id="handbook", chunk_id=f"handbook#{i % 50}", knowledge_base="docs")],
        )
        responses.append(resp)
        fb_kw: dict[str, Any] = {"thumbs": Thumbs.up} if i % 3 else {"rating": 5}
        feedback.append(Feedback(tenant=tenant, response_id=resp.response_id, **fb_kw))
    return responses, feedback


async def produce(settings: Settings, topic: str, values: list[bytes], key: bytes) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic, v, key=key) for v in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def _consume(settings: Settings, topic: str, n: int, timeout: float) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for recs in batch.values():
                records.extend(recs)
        return records
    finally:
        await consumer.stop()


async def bare_rate(settings: Settings, topic: str, n: int) -> dict[str, float]:
    """A bare aiokafka consumer: records/s between its first and its n-th record."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        # Timed from the first fetch: a bare consumer gets records in large batches, so "first record" is no
        # narrower a start than that.
        seen, first = 0, time.perf_counter()
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            seen += sum(len(recs) for recs in batch.values())
        last = time.perf_counter()
        return {"events": seen, "seconds": last - first, "events_per_s": seen / (last - first)}
    finally:
        await consumer.stop()


def faust_floor_worker(n: int, out: Path) -> None:
    """A Faust agent that only counts feedback events in batches: the ceiling any Faust service has here."""
    from services.app import make_app
    from services.runner import run_worker

    settings = Settings()
    app = make_app("bench-floor", settings)
    state: dict[str, float] = {"n": 0, "t0": 0.0}

    @app.agent(app.topic(Topics.from_settings(settings).feedback, value_serializer="raw"))
    async def count(stream: Any) -> None:
        async for events in stream.take_events(5000, within=0.25):
            state["t0"] = state["t0"] or time.perf_counter()
            state["n"] += len(events)
            if state["n"] >= n:
                seconds = time.perf_counter() - state["t0"]
                out.write_text(json.dumps({"events": state["n"], "seconds": seconds, "events_per_s": n / seconds}))
                os._exit(0)

    run_worker(app, "warn")


def faust_floor(settings: Settings, n: int, work: Path) -> dict[str, float]:
    out = work / "floor.json"
    proc = _spawn(
        settings, [sys.executable, str(Path(__file__).resolve()), "--faust-floor", str(n), str(out)], work / "floor.log"
    )
    try:
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
    return json.loads(out.read_text()) if out.exists() else {"events": 0, "seconds": 0.0, "events_per_s": 0.0}


def _spawn(settings: Settings, cmd: list[str], log: Path, port: int | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIZEN_")}
    env |= settings.to_env() | {"KAIZEN_SERVICE_WEB_PORT": str(port or free_port())}
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def start_curator(settings: Settings, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = _spawn(settings, [sys.executable, "-m", "services.curator"], log, port)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"curator exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.terminate()
    raise TimeoutError(f"curator not healthy:\n{log.read_text()[-3000:]}")


async def run(n: int, work: Path) -> dict[str, Any]:
    base = Settings(data_dir=work / "data", topic_prefix=f"bench{uuid.uuid4().hex[:6]}", topic_partitions=4)
    broker = EmbeddedBroker(base, log_path=work / "tansu.log").start()
    settings = base.with_overrides(kafka_bootstrap=broker.bootstrap, broker_kind="tansu")
    topics = Topics.from_settings(settings)
    proc = None
    try:
        responses, feedback = make_events(n)
        await produce(settings, topics.responses, [r.to_bytes() for r in responses], b"bench")
        proc, _ = start_curator(settings, work / "curator.log")
        # Wait until every response is in the curator's table (its changelog), so the feedback all joins.
        changelog = f"{settings.topic_prefix}-curator-curator-responses-changelog"
        t0 = time.perf_counter()
        stored = await _consume(settings, changelog, n, timeout=600)
        load_s = time.perf_counter() - t0
        produce_s = await produce(settings, topics.feedback, [f.to_bytes() for f in feedback], b"bench")
        out = await _consume(settings, topics.instructions, n, timeout=600)
        stamps = sorted(r.timestamp for r in out)
        span_s = (stamps[-1] - stamps[0]) / 1000 if len(stamps) > 1 else 0.0
        curator = {
            "events": len(out),
            "seconds": span_s,
            "events_per_s": (len(out) - 1) / span_s if span_s else 0.0,
            "responses_loaded_s": round(load_s, 2),
            "responses_in_table": len(stored),
        }
        bare = await bare_rate(settings, topics.feedback, n)
        floor = faust_floor(settings, n, work)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        broker.stop()
    ratio = curator["events_per_s"] / bare["events_per_s"] if bare["events_per_s"] else 0.0
    return {
        "events": n,
        "feedback_produce_events_per_s": round(n / produce_s, 1),
        "curator": {k: round(v, 2) if isinstance(v, float) else v for k, v in curator.items()},
        "bare_aiokafka": {k: round(v, 2) if isinstance(v, float) else v for k, v in bare.items()},
        # The same take_events loop doing nothing: what Faust's per-event stream machinery alone allows here.
        "faust_agent_counting_only": {k: round(v, 2) if isinstance(v, float) else v for k, v in floor.items()},
        "curator_vs_faust_floor": round(curator["events_per_s"] / floor["events_per_s"], 3)
        if floor["events_per_s"]
        else 0.0,
        "curator_vs_bare": round(ratio, 3),
        "targets": {"curator_vs_bare_min": 0.25, "curator_events_per_s_min": 5000},
        "meets_targets": ratio >= 0.25 and curator["events_per_s"] >= 5000 and curator["events"] == n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3,000 events instead of 20,000")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--faust-floor", nargs=2, metavar=("N", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.faust_floor:
        faust_floor_worker(int(args.faust_floor[0]), Path(args.faust_floor[1]))
        return
    n = args.events or (3_000 if args.quick else 20_000)
    with tempfile.TemporaryDirectory(prefix="kaizen-bench-curation-") as tmp:
        result = asyncio.run(run(n, Path(tmp)))
    result |= {"quick": args.quick, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
