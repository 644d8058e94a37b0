"""The gateway's FastAPI application: HTTP in, events out, responses back from the responses topic."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram

from kaizen import console
from kaizen.config import Settings
from kaizen.gateway import chat, errors, routes
from kaizen.gateway.auth import require_tenant
from kaizen.gateway.bus import Bus, KafkaBus, ObservedState
from kaizen.gateway.limits import BodySizeLimit
from kaizen.gateway.store import ResponseStore
from kaizen.serving.metrics import LATENCY_BUCKETS, ServingMetrics
from kaizen.tracing import configure_tracing


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "kaizen_gateway_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "kaizen_gateway_http_latency_seconds",
            "HTTP request latency (for chat completions: the whole round trip through Kafka)",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


def create_app(settings: Settings, *, bus: Bus | None = None) -> FastAPI:
    """``bus`` defaults to Kafka; tests of the HTTP layer alone may pass a double."""
    provider = configure_tracing(settings, "gateway")
    if bus is None:
        bus = KafkaBus(settings, ObservedState(ResponseStore(settings.gateway_store_size), ServingMetrics()))
    metrics = bus.state.metrics
    http_metrics = HttpMetrics(metrics.registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        try:
            yield
        finally:
            await bus.stop()

    # No unauthenticated docs: the schema is served below, behind a token like every other route.
    app = FastAPI(
        title="Kaizen gateway", version="1", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.bus = bus
    app.state.metrics = metrics
    errors.install(app)
    app.include_router(routes.router)
    app.include_router(chat.router)
    console.mount(app, settings)

    @app.middleware("http")
    async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        http_metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        http_metrics.latency.labels(route).observe(time.perf_counter() - started)
        return response

    # Outermost, so an oversized body is refused before anything reads it.
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes)
    # A server span per request (continuing the caller's W3C traceparent, if any), by OpenTelemetry's own
    # instrumentation; every event produced while handling it carries the trace on in its headers.
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz,metrics")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        ready = bus.ready
        return JSONResponse({"service": "gateway", "ready": ready}, status_code=200 if ready else 503)

    metrics_auth = [] if settings.gateway_metrics_public else [Depends(require_tenant)]

    @app.get("/metrics", include_in_schema=False, dependencies=metrics_auth)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_tenant)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    return app
