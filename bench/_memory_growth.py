"""Why the broker's store and the indexer grew in the soak (bench/results/soak.json), old behaviour against new.

- store: SeaweedFS + Tansu under 100 records/s (acks=all) and a committing consumer, RSS every 10 s; "leveldb2" is
  the old filer store (kept for data dirs that have one), "leveldb" the new default.
- indexer: LanceDBStore writes as the indexer makes them (hash lookup + one 3-chunk upsert = one table version),
  RSS and LanceDB's cache size every 50 writes, with the old 1 GiB metadata cache cap against the new 32 MB.

    nice -n 19 python bench/_memory_growth.py [--seconds 180] [--writes 600]  ->  bench/results/memory_growth.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer, KafkaProducer  # noqa: E402

from kaizen.config import Settings  # noqa: E402
from kaizen.retrieval.lancedb_store import LanceDBStore  # noqa: E402
from kaizen.retrieval.types import Chunk  # noqa: E402
from kaizen.streaming.admin import ensure_topics  # noqa: E402
from kaizen.streaming.broker import EmbeddedBroker  # noqa: E402
from kaizen.topics import TopicSpec  # noqa: E402

MB = 1024 * 1024


def slope_per_10min(ts: list[float], ys: list[float]) -> float:
    return round(float(np.polyfit(ts, ys, 1)[0]) * 600, 1)


def store_run(filer_store: str, seconds: float, rate: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"kz-mem-{filer_store}-"))
    if filer_store == "leveldb2":  # a data dir made before the change keeps leveldb2
        (work / "broker" / "data" / "filerldb2").mkdir(parents=True)
    settings = Settings(data_dir=work)
    broker = EmbeddedBroker(settings, log_path=work / "broker.log").start(create_topics=False)
    ensure_topics(
        settings.with_overrides(kafka_bootstrap=broker.bootstrap), [TopicSpec(name="mem", event="bench", partitions=4)]
    )
    assert broker.store is not None and broker.store.pid is not None
    weed = psutil.Process(broker.store.pid)
    stop, sent = threading.Event(), [0]

    def produce() -> None:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=0)
        start = time.monotonic()
        while not stop.is_set():
            producer.send("mem", key=str(sent[0] % 50).encode(), value=b"x" * 300)
            sent[0] += 1
            time.sleep(max(0.0, start + sent[0] / rate - time.monotonic()))
        producer.flush()
        producer.close()

    def consume() -> None:
        consumer = KafkaConsumer("mem", bootstrap_servers=broker.bootstrap, group_id="mem",
                                 auto_offset_reset="earliest", auto_commit_interval_ms=1000)  # fmt: skip
        while not stop.is_set():
            consumer.poll(500)
        consumer.close()

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    samples, start = [], time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            samples.append({"t_s": round(time.monotonic() - start, 1), "rss_mb": round(weed.memory_info().rss / MB, 1),
                            "sent": sent[0]})  # fmt: skip
            time.sleep(10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        broker.stop()
    late = [s for s in samples if s["t_s"] >= 60]
    return {
        "filer_store": filer_store,
        "records": sent[0],
        "rss_mb_first": samples[0]["rss_mb"],
        "rss_mb_last": samples[-1]["rss_mb"],
        "slope_mb_per_10min_after_60s": slope_per_10min([s["t_s"] for s in late], [s["rss_mb"] for s in late]),
        "samples": samples,
    }


def indexer_run(metadata_cache_mb: int, writes: int) -> dict:
    store = LanceDBStore(tempfile.mkdtemp(prefix="kz-mem-lance-"), dimension=384, metadata_cache_mb=metadata_cache_mb)
    rng, proc, samples = np.random.default_rng(0), psutil.Process(), []
    for i in range(1, writes + 1):
        chunks = [Chunk(chunk_id=f"d{i}#{j}", document_id=f"d{i}", knowledge_base="answers", text=f"answer {i} " * 40,
                        position=j, content_hash=f"h{i}") for j in range(3)]  # fmt: skip
        store.document_hash(tenant="default", knowledge_base="answers", document_id=f"d{i}")
        store.upsert_document(chunks, rng.standard_normal((3, 384)).astype(np.float32))
        if i % 200 == 0:
            store.optimize()  # as the indexer does (optimize_every=200)
        if i % 50 == 0:
            samples.append({"writes": i, "rss_mb": round(proc.memory_info().rss / MB, 1),
                            "lance_cache_mb": round(store.session.size_bytes / MB, 2)})  # fmt: skip
    store.close()
    late = [s for s in samples if s["writes"] > writes // 2]
    per_write = float(np.polyfit([s["writes"] for s in late], [s["rss_mb"] for s in late], 1)[0])
    return {
        "metadata_cache_mb": metadata_cache_mb,
        "writes": writes,
        "rss_mb_per_100_writes_second_half": round(per_write * 100, 2),
        "lance_cache_mb_last": samples[-1]["lance_cache_mb"],
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--writes", type=int, default=600)
    args = parser.parse_args()
    result = {
        "indexer": [indexer_run(mb, args.writes) for mb in (1024, 32)],
        "store": [store_run(kind, args.seconds, args.rate) for kind in ("leveldb2", "leveldb")],
    }
    out = ROOT / "bench" / "results" / "memory_growth.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: [{x: v for x, v in r.items() if x != "samples"} for r in rs] for k, rs in result.items()}))


if __name__ == "__main__":
    main()
