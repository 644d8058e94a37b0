"""The Faust app factory every Kaizen service is built with."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kaizen.config import Settings
from kaizen.streaming.broker import free_port
from kaizen.streaming.tansu import patch_faust_recovery
from kaizen.topics import Topics
from kaizen.tracing import configure_tracing


class KaizenApp(faust.App):
    """A Faust app that knows Kaizen's settings and topics and reports readiness on ``/healthz``."""

    settings: Settings
    topics_: Topics
    ready: bool = False
    readiness: list[Callable[[], bool]]
    health_details: list[Callable[[], dict[str, Any]]]


def faust_options(service: str, settings: Settings) -> dict[str, Any]:
    if not settings.kafka_bootstrap:
        raise ValueError("services need a broker: set KAIZEN_KAFKA_BOOTSTRAP (kaizen up does it for you)")
    brokers = ";".join(f"kafka://{b.strip()}" for b in settings.kafka_bootstrap.split(","))
    options: dict[str, Any] = {
        "broker": brokers,
        "store": "memory://",
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "consumer_auto_offset_reset": "earliest",
        "processing_guarantee": "at_least_once",
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 1.0,
        "web_host": "127.0.0.1",
        "web_bind": settings.service_web_bind,
        "web_port": settings.service_web_port or free_port(),
        # One directory per process: two replicas on one host must not share table state.
        "datadir": str((settings.data_dir / "faust" / f"{service}-{os.getpid()}").resolve()),
    }
    if settings.is_tansu:
        # Tansu under-reports end offsets when a batch holds several records, which stops Faust's changelog
        # recovery early; one record per batch keeps recovery complete. It also cannot grant producer ids,
        # so exactly-once (and the idempotent producer) are unavailable: at_least_once above.
        options["producer_max_batch_size"] = 1
        # On S3 storage even that is not enough: end offsets stay low. Recovery finds the end by fetching.
        patch_faust_recovery([b.strip() for b in settings.kafka_bootstrap.split(",")])
        options["broker_session_timeout"] = 3.0
        options["broker_heartbeat_interval"] = 0.3
    return options


def make_app(service: str, settings: Settings | None = None, **overrides: Any) -> KaizenApp:
    settings = settings or Settings()
    options = faust_options(service, settings) | overrides
    Path(options["datadir"]).mkdir(parents=True, exist_ok=True)
    app = KaizenApp(f"{settings.topic_prefix}-{service}", **options)
    app.settings = settings
    app.topics_ = Topics.from_settings(settings)
    configure_tracing(settings, service)
    # Services add their own conditions (e.g. the model is loaded); /healthz is 200 only when all hold.
    app.readiness = []
    app.health_details = []

    @app.on_rebalance_complete.connect
    async def _mark_ready(sender: faust.App, **kwargs: Any) -> None:
        app.ready = True

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            ready = app.ready and all(check() for check in app.readiness)
            body = {"service": service, "ready": ready, "consumer_ready": app.ready, "assignment": _assignment(app)}
            for details in app.health_details:
                body |= details()
            return self.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            # aiohttp refuses parameters in content_type=, but takes them as a header.
            return self.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app


def _assignment(app: faust.App) -> dict[str, list[int]]:
    """The partitions this replica owns now, per topic: how scaled-out replicas split the work."""
    owned: dict[str, list[int]] = {}
    for tp in app.assignor.assigned_actives():
        owned.setdefault(tp.topic, []).append(tp.partition)
    return {topic: sorted(partitions) for topic, partitions in sorted(owned.items())}
