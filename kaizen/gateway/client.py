"""A small synchronous client of the gateway's Kaizen API (the CLI uses it; OpenAI clients need none)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx

from kaizen.config import Settings
from kaizen.events import InteractionResponse


class GatewayError(RuntimeError):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.field = field


def default_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.gateway_host in ("0.0.0.0", "::") else settings.gateway_host
    return f"http://{host}:{settings.gateway_port}"


def default_token(settings: Settings) -> str:
    """The token of tenant ``default`` if one exists, else the first configured token."""
    tokens = [token.get_secret_value() for token in settings.api_tokens]
    for token, tenant in zip(tokens, settings.api_tokens.values(), strict=True):
        if tenant == "default":
            return token
    return next(iter(tokens), "")


class GatewayClient:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self._http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise GatewayError(response.status_code, error.get("message", ""), error.get("param"))
            except (ValueError, KeyError, TypeError):
                raise GatewayError(response.status_code, response.text[:500]) from None
        return response.json()

    def submit(self, body: dict[str, Any]) -> uuid.UUID:
        return uuid.UUID(self._check(self._http.post("/v1/interactions", json=body))["request_id"])

    def wait(self, request_id: uuid.UUID, *, timeout: float) -> InteractionResponse:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no response for {request_id} within {timeout:.0f}s")
            step = min(left, 25.0)
            reply = self._http.get(f"/v1/interactions/{request_id}", params={"wait": step}, timeout=step + 10)
            body = self._check(reply)
            if body["status"] != "pending":
                return InteractionResponse.model_validate(body["response"])

    def ask(self, body: dict[str, Any], *, timeout: float = 300.0) -> InteractionResponse:
        return self.wait(self.submit(body), timeout=timeout)

    def stream(
        self, body: dict[str, Any], on_delta: Callable[[str], None], *, timeout: float = 300.0
    ) -> InteractionResponse:
        """Ask over ``POST /v1/interactions/stream``: ``on_delta`` gets the answer as it is decoded, then the response
        (whose answer the pieces join to) is returned."""
        name = ""
        with self._http.stream("POST", "/v1/interactions/stream", json=body, timeout=timeout) as reply:
            if reply.status_code >= 400:
                reply.read()
                self._check(reply)
            for line in reply.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    if name == "delta":
                        on_delta(data["text"])
                    elif name == "response":
                        return InteractionResponse.model_validate(data["response"])
                    elif name == "error":
                        raise TimeoutError(data.get("message", "no response"))
        raise GatewayError(502, "the stream ended without a response")

    def feedback(self, body: dict[str, Any]) -> uuid.UUID:
        return uuid.UUID(self._check(self._http.post("/v1/feedback", json=body))["event_id"])

    def document(self, body: dict[str, Any]) -> uuid.UUID:
        return uuid.UUID(self._check(self._http.post("/v1/documents", json=body))["event_id"])

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
