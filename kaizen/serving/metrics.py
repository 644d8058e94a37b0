"""Prometheus metrics for answering: requests, latencies, batch sizes, the active adapter, dead letters.

Each holder owns a registry so several can live in one process (tests, the gateway); a service passes the global
registry so its /metrics page also shows what other modules registered there.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from kaizen.events import AdapterEvent, DeadLetter, InteractionResponse
from kaizen.registry.rollout import AdapterRollout

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32)


class ServingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, prefix: str = "kaizen") -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            f"{prefix}_interactions_total",
            "Interaction responses by outcome",
            ["status", "strategy", "adapter"],
            registry=r,
        )
        self.duplicates = Counter(
            f"{prefix}_interaction_duplicates_total", "Requests seen again and answered from memory", registry=r
        )
        self.latency = Histogram(
            f"{prefix}_interaction_latency_seconds",
            "Time to answer one request",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(f"{prefix}_interactions_in_flight", "Requests being answered now", registry=r)
        self.batch_size = Histogram(
            f"{prefix}_generation_batch_size",
            "Rows in the batch a generation ran in",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.active_adapter = Gauge(
            f"{prefix}_active_adapter",
            "1 per tenant for the adapter serving its traffic (role=active) and its canary (role=canary)",
            ["tenant", "version", "role"],
            registry=r,
        )
        self.adapter_events = Counter(
            f"{prefix}_adapter_events_total", "Adapter events handled", ["action", "outcome"], registry=r
        )
        self.exemplars_learned = Counter(
            f"{prefix}_exemplars_learned_total",
            "Curated chain-of-thought answers added to the few-shot exemplar pool",
            registry=r,
        )
        self.dead_letters = Counter(
            f"{prefix}_observed_dead_letters_total",
            "Dead letters seen on the dead-letter topic",
            ["service", "error_type"],
            registry=r,
        )

    def observe_response(self, response: InteractionResponse) -> None:
        status = "error" if response.error else "ok"
        self.requests.labels(status, response.strategy or "none", response.adapter_version or "base").inc()
        self.latency.observe(response.latency_ms / 1000.0)

    def observe_trace_batches(self, response: InteractionResponse) -> None:
        """Batch sizes reported in the trace (for observers outside the process that generated them)."""
        for step in response.trace:
            size = step.detail.get("batch_size")
            if step.step == "generate" and isinstance(size, int) and size > 0:
                self.batch_size.observe(size)

    def set_adapters(self, rollout: AdapterRollout) -> None:
        self.active_adapter.clear()
        for tenant, version, role in rollout.roles():
            self.active_adapter.labels(tenant, version, role).set(1)

    def observe_adapter_event(self, event: AdapterEvent, outcome: str) -> None:
        self.adapter_events.labels(event.action.value, outcome).inc()

    def observe_dead_letter(self, letter: DeadLetter) -> None:
        self.dead_letters.labels(letter.service or "unknown", letter.error_type or "unknown").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
