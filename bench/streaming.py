"""Time to first token through the gateway versus the engine's own, at 1 and 8 concurrent streams.

    python bench/streaming.py [--quick] [--rounds N] [--tokens 16]

One run, side by side, on the same direct-mode questions and the real default model:
- "engine": GenerationEngine in this process, from submit to the first decoded piece (on_delta);
- "answer": kaizen.reasoning.answer in this process, to the first piece of the answer (what serving publishes);
- "openai" and "kaizen": an SSE client on the gateway (POST /v1/chat/completions with stream=true, and
  POST /v1/interactions/stream), to the first content it receives; the request crosses the real broker to the
  serving service (python -m services.serving, its own engine) and its deltas come back on the delta topic.
Target, at p50: the gateway's time to first token is at most the engine's plus 50 ms. Writes
bench/results/streaming.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import MODELS, service_process  # noqa: E402
from kaizen.config import Settings  # noqa: E402
from kaizen.events import InteractionRequest, Mode, RequestOptions  # noqa: E402
from kaizen.streaming.broker import EmbeddedBroker  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "streaming.json"
TOKEN = "bench-token"
TARGET_MS = 50.0
SUBJECTS = ["water", "the sun", "Paris", "a violin", "the moon", "bread", "a river", "winter"]

FirstToken = Callable[[str], Awaitable[float]]  # question -> seconds to its first piece


def question(i: int) -> str:
    return f"What is {SUBJECTS[i % len(SUBJECTS)]} (#{i})?"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def interleaved(paths: dict[str, FirstToken], streams: int, rounds: int, offset: int) -> dict[str, Any]:
    """``rounds`` rounds; in each, every path in turn opens ``streams`` streams at once (questions of its own, so no
    answer comes from a cache). Turn by turn, the machine's load changes fall on every path alike."""
    ttft: dict[str, list[float]] = {name: [] for name in paths}
    for r in range(rounds):
        for p, (name, first_token) in enumerate(paths.items()):
            start = offset + (r * len(paths) + p) * streams
            seconds = await asyncio.gather(*(first_token(question(start + i)) for i in range(streams)))
            ttft[name].extend(s * 1000 for s in seconds)
    return {
        name: {
            "streams": streams,
            "requests": len(values),
            "ttft_ms_p50": round(statistics.median(values), 1),
            "ttft_ms_p95": round(percentile(values, 0.95), 1),
        }
        for name, values in ttft.items()
    }


def engine_paths(settings: Settings, tokens: int) -> tuple[Any, FirstToken, FirstToken]:
    from kaizen.llm.engine import GenerationEngine
    from kaizen.reasoning.answer import answer
    from kaizen.reasoning.deps import ReasoningDeps
    from kaizen.reasoning.prompts import PromptLibrary
    from kaizen.reasoning.text import STOP_AFTER_LINE, one_line

    engine = GenerationEngine.from_settings(settings).start()
    prompts = PromptLibrary()
    deps = ReasoningDeps(llm=engine, prompts=prompts)

    async def first_of(run: Callable[[Callable[[str], None]], Awaitable[object]]) -> float:
        # Each stream waits for its whole answer, as a client does, so the load is the same as through the gateway.
        first: list[float] = []
        started = time.perf_counter()
        await run(lambda _piece: first.append(time.perf_counter()) if not first else None)
        if not first:
            raise RuntimeError("nothing was streamed")
        return first[0] - started

    async def through_engine(q: str) -> float:
        prompt = prompts.render("direct", question=one_line(q)).text
        return await first_of(
            lambda sink: engine.generate(prompt, max_new_tokens=tokens, stop=STOP_AFTER_LINE, on_delta=sink)
        )

    async def through_answer(q: str) -> float:
        request = InteractionRequest(question=q, mode=Mode.direct, options=RequestOptions(max_new_tokens=tokens))
        return await first_of(lambda sink: answer(request, deps, on_delta=sink))

    return engine, through_engine, through_answer


def gateway_paths(client: httpx.AsyncClient, tokens: int) -> tuple[FirstToken, FirstToken]:
    async def first_line(method_url: tuple[str, str], body: dict[str, Any], is_content: Callable[[str], bool]) -> float:
        started = time.perf_counter()
        first = None
        async with client.stream(*method_url, json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():  # read to the end: the stream is the whole answer
                if first is None and is_content(line):
                    first = time.perf_counter()
        if first is None:
            raise RuntimeError(f"no content streamed for {body}")
        return first - started

    def openai_content(line: str) -> bool:
        if not line.startswith("data: {"):
            return False
        choices = json.loads(line[6:]).get("choices") or [{}]
        return bool(choices[0].get("delta", {}).get("content"))

    def kaizen_content(line: str) -> bool:
        return line.startswith('data: {"text"')

    async def through_openai(q: str) -> float:
        body = {
            "model": "kaizen-direct",
            "messages": [{"role": "user", "content": q}],
            "stream": True,
            "max_tokens": tokens,
        }
        return await first_line(("POST", "/v1/chat/completions"), body, openai_content)

    async def through_kaizen(q: str) -> float:
        body = {"question": q, "mode": "direct", "options": {"max_new_tokens": tokens}}
        return await first_line(("POST", "/v1/interactions/stream"), body, kaizen_content)

    return through_openai, through_kaizen


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from kaizen.llm.prepare import resolve_base_model

    work = Path(tempfile.mkdtemp(prefix="kaizen-bench-streaming-"))
    base = Settings(data_dir=work, models_dir=MODELS, torch_threads=args.threads, api_tokens={TOKEN: "bench"})
    model_dir = resolve_base_model(base)
    results: dict[str, Any] = {"model": model_dir.name, "max_new_tokens": args.tokens, "target_ms": TARGET_MS}
    by_streams: dict[str, dict[str, Any]] = {}
    with EmbeddedBroker(base) as broker:
        settings = base.with_overrides(kafka_bootstrap=broker.bootstrap, broker_kind="tansu", base_model=str(model_dir))
        with (
            service_process("services.serving", settings, work / "serving.log", "KAIZEN_SERVICE_WEB_PORT"),
            service_process("services.gateway", settings, work / "gateway.log", "KAIZEN_GATEWAY_PORT") as port,
        ):
            engine, through_engine, through_answer = engine_paths(settings, args.tokens)
            results.update(device=str(engine.lm.device), dtype=str(engine.lm.dtype).removeprefix("torch."))
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=600) as client:
                through_openai, through_kaizen = gateway_paths(client, args.tokens)
                paths = {
                    "engine": through_engine,
                    "answer": through_answer,
                    "openai": through_openai,
                    "kaizen": through_kaizen,
                }
                for run in paths.values():  # warm-up: first calls load code paths and caches everywhere
                    await run(question(999))
                for streams, rounds in ((1, args.rounds), (8, max(args.rounds // 3, 1))):
                    row: dict[str, Any] = await interleaved(paths, streams, rounds, offset=1000 * streams)
                    gateway = max(row["openai"]["ttft_ms_p50"], row["kaizen"]["ttft_ms_p50"])
                    row["gateway_minus_engine_ms_p50"] = round(gateway - row["engine"]["ttft_ms_p50"], 1)
                    row["met"] = row["gateway_minus_engine_ms_p50"] <= TARGET_MS
                    by_streams[str(streams)] = row
                    print(streams, json.dumps(row), flush=True)
            engine.close()
    results["streams"] = by_streams
    results["met"] = all(row["met"] for row in by_streams.values())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 rounds with 1 stream, 1 round of 8 streams")
    parser.add_argument("--rounds", type=int, default=9, help="rounds with 1 stream (a third as many with 8)")
    parser.add_argument("--tokens", type=int, default=16, help="max_new_tokens per request")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (this machine: 1 is fastest)")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 4
    args.rounds = max(args.rounds, 1)
    result = asyncio.run(main_async(args))
    result["measured"] = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
