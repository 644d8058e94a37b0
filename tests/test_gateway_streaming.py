"""Streaming through the real broker: the serving service (scripted model, decoding word by word) publishes deltas,
the gateway relays them as server-sent events before the response exists, on the OpenAI and on Kaizen's API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from kaizen.config import Settings
from kaizen.events import InteractionDelta
from kaizen.streaming.consumer import read_events
from kaizen.topics import Topics
from tests.fixtures.broker import ServiceProcess
from tests.support.serving import AUTH_A, PIECE_SECONDS, STREAMED, STREAMED_ANSWER, TOKENS, gateway_process


@pytest.fixture
def settings(kaizen_settings: Settings) -> Settings:
    return kaizen_settings.with_overrides(api_tokens=TOKENS, gateway_wait_seconds=60.0)


@pytest.fixture
def gateway(settings: Settings, run_service: Callable[..., object], tmp_path: Path) -> Iterator[ServiceProcess]:
    with (
        run_service("tests.support.scripted_serving_service", settings=settings),  # type: ignore[attr-defined]
        gateway_process(settings, tmp_path) as gw,
    ):
        yield gw


def test_openai_stream_delivers_tokens_before_the_response(gateway: ServiceProcess, settings: Settings) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="token-a", max_retries=0, timeout=70)
    arrivals: list[tuple[float, ChatCompletionChunk]] = []
    stream = client.chat.completions.create(
        model="kaizen-direct",
        messages=[{"role": "user", "content": f"{STREAMED} please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        arrivals.append((time.monotonic(), chunk))
    content = [(t, c.choices[0].delta.content) for t, c in arrivals if c.choices and c.choices[0].delta.content]
    finished = next(t for t, c in arrivals if c.choices and c.choices[0].finish_reason)
    assert "".join(text for _, text in content) == STREAMED_ANSWER
    assert len(content) >= 6  # word by word, not the whole answer at the end
    # The first words reached the client while the model was still decoding the rest.
    assert finished - content[0][0] > 4 * PIECE_SECONDS
    assert len({c.created for _, c in arrivals}) == 1 and len({c.id for _, c in arrivals}) == 1
    assert arrivals[-1][1].usage is not None and arrivals[-1][1].choices == []
    deltas = read_events(
        settings, Topics.from_settings(settings).response_deltas, InteractionDelta, count=8, timeout=30
    )
    assert "".join(d.text for d in sorted(deltas, key=lambda d: d.index)) == STREAMED_ANSWER
    assert len({d.request_id for d in deltas}) == 1


def test_kaizen_stream_and_the_final_response(gateway: ServiceProcess) -> None:
    events: list[tuple[float, str, dict[str, object]]] = []
    with httpx.Client(base_url=gateway.url, timeout=70) as http:
        body = {"question": f"{STREAMED} now", "mode": "direct"}
        with http.stream("POST", "/v1/interactions/stream", json=body, headers=AUTH_A) as response:
            assert response.status_code == 200, response.read()
            name = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((time.monotonic(), name, json.loads(line.removeprefix("data: "))))
        request_id = events[0][2]["request_id"]
        polled = http.get(f"/v1/interactions/{request_id}", headers=AUTH_A).json()
    deltas = [(t, d["text"]) for t, n, d in events if n == "delta"]
    final_at, name, final = events[-1]
    assert name == "response" and final["status"] == "done"
    assert "".join(text for _, text in deltas) == polled["response"]["answer"] == STREAMED_ANSWER
    assert final_at - deltas[0][0] > 4 * PIECE_SECONDS
    # The response event is the same one every other reader gets.
    assert final["response"] == polled["response"]


def test_kaizen_ask_prints_the_streamed_answer(gateway: ServiceProcess) -> None:
    from typer.testing import CliRunner

    from kaizen.cli.main import app

    result = CliRunner().invoke(
        app, ["ask", f"{STREAMED} cli", "--mode", "direct", "--url", gateway.url, "--token", "token-a"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == STREAMED_ANSWER and "response id:" in result.output
