"""The service's Prometheus metrics, on a registry of its own (one per app, so tests can
run several apps in one process). ``GET /metrics`` renders it in the text format."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from pipeline.result import PipelineResult

disable_created_metrics()  # no `_created` series beside every counter and histogram

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.0,
    5.0,
    10.0,
)


class Metrics:
    """Every metric the generic service exports (``docs/serving.md`` lists them)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "feedmixer_requests",
            "Feed requests answered, by recipe and HTTP status",
            ["recipe", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "feedmixer_request_duration_seconds",
            "Feed request latency in the handler (admission to serialised answer), by recipe",
            ["recipe"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "feedmixer_stage_duration_seconds",
            "Pipeline stage latency, by recipe and stage",
            ["recipe", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.component_seconds = Histogram(
            "feedmixer_component_duration_seconds",
            "Component call latency, by recipe and component",
            ["recipe", "component"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.degradations = Counter(
            "feedmixer_degradations",
            "Components skipped or partly applied, by recipe, component and kind",
            ["recipe", "component", "kind"],
            registry=registry,
        )
        self.candidates = Counter(
            "feedmixer_candidates",
            "Candidates retrieved by the sources, reaching selection (scored) and served",
            ["recipe", "point"],
            registry=registry,
        )
        self.removed = Counter(
            "feedmixer_candidates_removed",
            "Candidates removed, by recipe and the filter (or drop_all component) that did it",
            ["recipe", "filter"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "feedmixer_requests_in_flight",
            "Feed requests being served now, by recipe",
            ["recipe"],
            registry=registry,
        )
        self.rejected = Counter(
            "feedmixer_requests_rejected",
            "Feed requests refused with 503 before running, by recipe and reason",
            ["recipe", "reason"],
            registry=registry,
        )
        self.events_ingested = Counter(
            "feedmixer_events_ingested",
            "Ingested events acknowledged, by kind",
            ["kind"],
            registry=registry,
        )
        self.ready = Gauge(
            "feedmixer_ready", "1 when the service takes requests, else 0", registry=registry
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: ``labels`` validates and locks on every
        call, and a request records ~40 of them. The label sets are the served recipes'
        stages, components and filters, so the cache stays as small as the metrics."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def observe(self, recipe: str, result: PipelineResult) -> None:
        """Record one finished request's stages, components, degradations and counts."""
        child = self.child
        for stage, ms in result.timings.stages.items():
            child(self.stage_seconds, recipe, stage).observe(ms / 1000)
        for component, ms in result.timings.components.items():
            child(self.component_seconds, recipe, component).observe(ms / 1000)
        for degradation in result.degradations:
            child(self.degradations, recipe, degradation.component, degradation.kind).inc()
        child(self.candidates, recipe, "retrieved").inc(len(result.retrieved))
        child(self.candidates, recipe, "scored").inc(len(result.scored))
        child(self.candidates, recipe, "served").inc(len(result.selected))
        for batch in result.removals:
            child(self.removed, recipe, batch.filter).inc(len(batch.candidates))

    async def observe_served(self, recipe: str, result: PipelineResult, seconds: float) -> None:
        """Record one request answered with 200 in ``seconds`` (the handler's time): its
        :meth:`observe`, the request count and the latency. Async so that, as the answer's
        background task, it runs in the event loop right after the answer is sent."""
        self.observe(recipe, result)
        self.child(self.requests, recipe, "200").inc()
        self.child(self.request_seconds, recipe).observe(seconds)
