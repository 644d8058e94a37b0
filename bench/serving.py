"""Serving through Kafka versus calling the engine directly, failed requests during adapter swaps under load, and
one tenant's load on 1 against 2 serving replicas.

    python bench/serving.py [--quick] [--requests N] [--concurrency 8] [--swaps 20] [--only replicas]

Both paths answer the same direct-mode questions with the real default model, one after the other in one run:
"direct" calls kaizen.reasoning.answer on an in-process engine; "kafka" produces request events to the embedded
broker, the serving service (python -m services.serving) answers them, and responses are read back from the
responses topic. "replicas" sends one tenant's requests to 1 and then 2 replicas in one consumer group (the same
questions, the same client concurrency, fresh topics each) and reports throughput and requests per replica.
Writes bench/results/serving.json (``--only replicas`` replaces only that section).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kaizen.config import Settings  # noqa: E402
from kaizen.events import (  # noqa: E402
    AdapterAction,
    AdapterEvent,
    InteractionRequest,
    InteractionResponse,
    Mode,
    RequestOptions,
)
from kaizen.serving.feed import assigned_consumer  # noqa: E402
from kaizen.streaming.admin import ensure_topics  # noqa: E402
from kaizen.streaming.broker import EmbeddedBroker, free_port  # noqa: E402
from kaizen.streaming.codec import decode  # noqa: E402
from kaizen.streaming.producer import AsyncEventProducer  # noqa: E402
from kaizen.topics import Topics  # noqa: E402
from tests.support.replicas import answered, wait_split  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "serving.json"
MODELS = ROOT / ".kaizen" / "models"


def questions(n: int, tokens: int) -> list[InteractionRequest]:
    subjects = ["water", "the sun", "Paris", "a violin", "the moon", "bread", "a river", "winter"]
    return [
        InteractionRequest(
            question=f"Describe {subjects[i % len(subjects)]} in one sentence (#{i}).",
            mode=Mode.direct,
            user_id=f"bench-{i}",
            options=RequestOptions(max_new_tokens=tokens),
        )
        for i in range(n)
    ]


def fresh(requests: list[InteractionRequest]) -> list[InteractionRequest]:
    """The same questions under new event ids: serving answers an id once, so a re-sent id would wait forever."""
    return [r.model_copy(update={"event_id": InteractionRequest(question="x").event_id}) for r in requests]


async def closed_loop(
    requests: list[InteractionRequest],
    concurrency: int,
    call: Callable[[InteractionRequest], Awaitable[InteractionResponse]],
) -> dict[str, Any]:
    """Keep ``concurrency`` requests in flight; per-request latency and overall throughput."""
    queue = list(requests)
    latencies: list[float] = []
    errors: list[str] = []

    async def worker() -> None:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            response = await call(request)
            latencies.append(time.perf_counter() - started)
            if response.error:
                errors.append(response.error)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(requests),
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(requests) / elapsed, 4),
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "errors": len(errors),
        "error_samples": errors[:3],
    }


async def bench_direct(settings: Settings, requests: list[InteractionRequest], concurrency: int) -> dict[str, Any]:
    from kaizen.llm.engine import GenerationEngine
    from kaizen.reasoning.answer import answer
    from kaizen.reasoning.deps import ReasoningDeps

    engine = GenerationEngine.from_settings(settings).start()
    try:
        deps = ReasoningDeps(llm=engine)
        await closed_loop(requests[:concurrency], concurrency, lambda r: answer(r, deps))  # warm-up
        return await closed_loop(requests, concurrency, lambda r: answer(r, deps))
    finally:
        engine.close()


class KafkaClient:
    """Produces request events and resolves each one when its response arrives on the responses topic."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.waiting: dict[Any, asyncio.Future[InteractionResponse]] = {}

    async def __aenter__(self) -> KafkaClient:
        self.producer = AsyncEventProducer(self.settings)
        await self.producer.start()
        self.consumer = await assigned_consumer(self.settings, from_end=[self.topics.responses])
        self.task = asyncio.create_task(self._tail())
        return self

    async def _tail(self) -> None:
        async for record in self.consumer:
            response = decode(record.value, InteractionResponse)
            future = self.waiting.pop(response.request_id, None)
            if future is not None and not future.done():
                future.set_result(response)

    async def ask(self, request: InteractionRequest) -> InteractionResponse:
        future: asyncio.Future[InteractionResponse] = asyncio.get_running_loop().create_future()
        self.waiting[request.event_id] = future
        await self.producer.send(self.topics.requests, request)
        return await asyncio.wait_for(future, 600)

    async def send_adapter(self, event: AdapterEvent) -> None:
        await self.producer.send(self.topics.adapters, event)

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.consumer.stop()
        await self.producer.stop()


@contextlib.contextmanager
def service_process(module: str, settings: Settings, log: Path, port_variable: str) -> Any:
    """``python -m module`` with ``settings``, on a free port (``port_variable``), until /healthz answers; yields
    the port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIZEN_")}
    env |= settings.to_env() | {port_variable: str(port), "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", module], stdout=out, stderr=out, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{module} exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(log.read_text()[-3000:])
            time.sleep(0.5)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def make_adapters(
    settings: Settings, model_dir: Path, versions: list[str], *, tenant: str = "default"
) -> list[AdapterEvent]:
    """Register small random LoRA adapters (r=4) so swaps load real weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from kaizen.llm.fingerprint import fingerprint
    from kaizen.registry import AdapterManifest, AdapterRegistry

    registry = AdapterRegistry(settings.registry_dir)
    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, local_files_only=True)
    events = []
    for i, version in enumerate(versions):
        torch.manual_seed(i)
        peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
        with tempfile.TemporaryDirectory() as tmp:
            peft_model.save_pretrained(tmp)
            manifest = registry.register(
                Path(tmp),
                AdapterManifest(
                    version=version,
                    tenant=tenant,
                    base_model=model_dir.name,
                    base_model_hash=fingerprint(model_dir),
                ),
            )
        base = peft_model.unload()
        events.append(
            AdapterEvent(
                tenant=tenant,
                action=AdapterAction.promoted,
                version=version,
                manifest_url=registry.manifest_url(version),
                checksum=manifest.checksum,
                base_model=model_dir.name,
            )
        )
    return events


async def bench_kafka(
    settings: Settings, requests: list[InteractionRequest], concurrency: int, swaps: int, log: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    adapters = make_adapters(settings, Path(settings.base_model), ["bench-a", "bench-b"]) if swaps else []
    with service_process("services.serving", settings, log, "KAIZEN_SERVICE_WEB_PORT"):
        async with KafkaClient(settings) as client:
            await closed_loop(fresh(requests[:concurrency]), concurrency, client.ask)  # warm-up
            through_kafka = await closed_loop(fresh(requests), concurrency, client.ask)
            swap_result: dict[str, Any] = {"swaps": 0}
            if swaps:
                swap_result = await swaps_under_load(client, requests, concurrency, adapters, swaps)
    return through_kafka, swap_result


async def swaps_under_load(
    client: KafkaClient,
    requests: list[InteractionRequest],
    concurrency: int,
    adapters: list[AdapterEvent],
    swaps: int,
) -> dict[str, Any]:
    load = fresh(requests * 2)
    versions: list[str | None] = []

    async def ask(request: InteractionRequest) -> InteractionResponse:
        response = await client.ask(request)
        versions.append(response.adapter_version)
        return response

    async def swapper() -> None:
        for i in range(swaps):
            await client.send_adapter(adapters[i % len(adapters)])
            await asyncio.sleep(0.5)

    swapping = asyncio.create_task(swapper())
    result = await closed_loop(load, concurrency, ask)
    await swapping
    return {
        "swaps": swaps,
        "requests": result["requests"],
        "failed_requests": result["errors"],
        "error_samples": result["error_samples"],
        "adapter_versions_seen": sorted({v or "base" for v in versions}),
        "target_failed": 0,
    }


async def bench_replicas(
    settings: Settings, requests: list[InteractionRequest], concurrency: int, counts: list[int], work: Path
) -> dict[str, Any]:
    """One tenant's requests (keyed by request id) on 1, then 2, replicas of one consumer group."""
    runs: dict[str, Any] = {}
    for n in counts:
        run = settings.with_overrides(topic_prefix=f"bench-replicas-{n}")
        ensure_topics(run)
        topic = Topics.from_settings(run).requests
        with contextlib.ExitStack() as stack:
            ports = [
                stack.enter_context(
                    service_process("services.serving", run, work / f"serving-{n}-{i}.log", "KAIZEN_SERVICE_WEB_PORT")
                )
                for i in range(n)
            ]
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            split = wait_split(urls, topic, run.topic_partitions)
            async with KafkaClient(run) as client:
                await closed_loop(fresh(requests[:concurrency]), concurrency, client.ask)  # warm-up
                before = [answered(url) for url in urls]
                result = await closed_loop(fresh(requests), concurrency, client.ask)
                result["requests_per_replica"] = [int(answered(url) - b) for url, b in zip(urls, before, strict=True)]
                result["partitions_per_replica"] = [sorted(s) for s in split]
        runs[f"{n}_replicas"] = result
    one, two = runs.get("1_replicas"), runs.get("2_replicas")
    if one and two:
        runs["speedup_2_vs_1"] = round(two["requests_per_s"] / one["requests_per_s"], 3)
    runs["tenant"] = requests[0].tenant
    runs["partitions"] = settings.topic_partitions
    runs["cpu_cores"] = os.cpu_count()
    return runs


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="kaizen-bench-serving-"))
    base = Settings(data_dir=work, models_dir=MODELS, torch_threads=args.threads)
    from kaizen.llm.prepare import resolve_base_model

    model_dir = resolve_base_model(base)
    requests = questions(args.requests, args.tokens)
    result: dict[str, Any] = {"model": model_dir.name, "max_new_tokens": args.tokens}
    if args.only != "replicas":
        direct = await bench_direct(base.with_overrides(base_model=str(model_dir)), requests, args.concurrency)
    with EmbeddedBroker(base) as broker:
        settings = base.with_overrides(kafka_bootstrap=broker.bootstrap, broker_kind="tansu", base_model=str(model_dir))
        if args.only != "replicas":
            kafka, swaps = await bench_kafka(settings, requests, args.concurrency, args.swaps, work / "serving.log")
            overhead = 1 - kafka["requests_per_s"] / direct["requests_per_s"]
            result |= {
                "direct": direct,
                "kafka": kafka,
                "throughput_overhead": round(overhead, 4),
                "target_overhead": 0.15,
                "meets_overhead_target": overhead <= 0.15,
                "adapter_swaps": swaps,
                "meets_swap_target": swaps.get("failed_requests", 0) == 0,
            }
        if args.replicas:
            counts = [1, args.replicas]
            result["replicas"] = await bench_replicas(settings, requests, args.concurrency, counts, work)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="16 requests, 4 swaps: a minute or two.")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16, help="max_new_tokens per request")
    parser.add_argument("--swaps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (this machine: 1 is fastest)")
    parser.add_argument("--replicas", type=int, default=2, help="replicas to compare with 1 (0 = skip that run)")
    parser.add_argument("--only", choices=["all", "replicas"], default="all")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.swaps = 16, 4
    result = asyncio.run(main_async(args))
    if args.only == "replicas" and RESULTS.exists():  # keep the other sections' last full run
        result = json.loads(RESULTS.read_text()) | {"replicas": result["replicas"]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
