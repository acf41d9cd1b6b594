"""The service's Prometheus metrics, on a registry of its own (one per app, so tests can
run several apps in one process). ``GET /metrics`` renders it in the text format."""

from __future__ import annotations

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

    def observe(self, recipe: str, result: PipelineResult) -> None:
        """Record one finished request's stages, components, degradations and counts."""
        for stage, ms in result.timings.stages.items():
            self.stage_seconds.labels(recipe, stage).observe(ms / 1000)
        for component, ms in result.timings.components.items():
            self.component_seconds.labels(recipe, component).observe(ms / 1000)
        for degradation in result.degradations:
            self.degradations.labels(recipe, degradation.component, degradation.kind).inc()
        self.candidates.labels(recipe, "retrieved").inc(len(result.retrieved))
        self.candidates.labels(recipe, "scored").inc(len(result.scored))
        self.candidates.labels(recipe, "served").inc(len(result.selected))
        for batch in result.removals:
            self.removed.labels(recipe, batch.filter).inc(len(batch.candidates))
