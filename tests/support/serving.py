"""Helpers shared by the serving and gateway tests: run the gateway process, wait for responses."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from kaizen.config import Settings
from kaizen.streaming.broker import free_port
from tests.fixtures.broker import REPO, ServiceProcess, stop_process, wait_healthy

TOKENS = {"token-a": "alpha", "token-b": "beta"}
AUTH_A = {"Authorization": "Bearer token-a"}
AUTH_B = {"Authorization": "Bearer token-b"}
# The scripted serving service answers a question containing STREAMED slowly, word by word, as a model decodes.
STREAMED = "STREAMED"
STREAMED_ANSWER = "one two three four five six seven eight"
PIECE_SECONDS = 0.15


@contextlib.contextmanager
def gateway_process(settings: Settings, log_dir: Path, *, timeout: float = 60) -> Iterator[ServiceProcess]:
    """``python -m services.gateway`` on a free port, until healthy; stopped on exit."""
    port = free_port()
    settings = settings.with_overrides(gateway_port=port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIZEN_")} | settings.to_env()
    log = log_dir / f"gateway-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.gateway"], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO
        )
    service = ServiceProcess(proc, port, log)
    try:
        wait_healthy(service, timeout=timeout)
        yield service
    finally:
        stop_process(proc)
