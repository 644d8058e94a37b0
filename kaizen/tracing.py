"""OpenTelemetry tracing: every process makes real spans, so a W3C ``traceparent`` follows each request from the
gateway through serving and the curator; spans leave the process only when an OTLP endpoint is configured."""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from kaizen.config import Settings

_lock = threading.Lock()
_configured: TracerProvider | None = None


def make_provider(settings: Settings, service: str) -> TracerProvider:
    """The SDK's provider (so spans have ids to propagate), exporting to ``settings.otlp_endpoint`` (OTLP over
    HTTP) when it is set, and nowhere otherwise."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"kaizen-{service}"}))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return provider


def configure_tracing(settings: Settings, service: str) -> TracerProvider:
    """Once per process (OpenTelemetry's global provider can be set once): the first caller names the service."""
    global _configured
    with _lock:
        if _configured is None:
            _configured = make_provider(settings, service)
            trace.set_tracer_provider(_configured)
        return _configured


def tracer() -> trace.Tracer:
    return trace.get_tracer("kaizen")
