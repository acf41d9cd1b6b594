"""The running service as its endpoints see it: readiness, resources, admission, metrics.

Kept free of FastAPI: a :class:`FeedService`'s endpoints call :meth:`ServiceContext.resources`
(which raises :class:`NotReady` before start-up finished or while draining) and
:meth:`ServiceContext.ingested`; the app turns :class:`NotReady` and :class:`Overloaded`
into 503 answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pipeline.errors import FeedmixerError


class NotReady(FeedmixerError):
    """The service is starting, failed to start, or is draining; retry on another replica."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason  # "starting", "startup_failed" or "draining"
        super().__init__(message)


class Overloaded(FeedmixerError):
    """A recipe already has its maximum of requests in flight; the request is not queued."""

    def __init__(self, recipe: str, limit: int) -> None:
        self.recipe = recipe
        self.limit = limit
        super().__init__(
            f"recipe {recipe!r} has {limit} requests in flight (its limit); retry shortly"
        )


class Admission:
    """A bounded number of requests in flight per recipe; one more is refused at once.

    The event loop runs one task at a time, so the check and the count need no lock.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max in flight must be at least 1, got {limit}")
        self.limit = limit
        self.in_flight: dict[str, int] = {}

    @contextmanager
    def admit(self, recipe: str) -> Iterator[None]:
        count = self.in_flight.get(recipe, 0)
        if count >= self.limit:
            raise Overloaded(recipe, self.limit)
        self.in_flight[recipe] = count + 1
        try:
            yield
        finally:
            self.in_flight[recipe] -= 1

    def total(self) -> int:
        return sum(self.in_flight.values())


class ServiceContext:
    """What a service's own endpoints may use. The app sets ``state`` as start-up and
    shutdown progress: ``starting`` -> ``ready`` (or ``startup_failed``) -> ``draining``."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics
        self.state = "starting"
        self.failure: str | None = None
        self._resources: Mapping[str, Any] | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def check_ready(self) -> None:
        """Raise :class:`NotReady` unless the service takes requests."""
        if self.state == "ready":
            return
        if self.state == "draining":
            raise NotReady("draining", "the service is shutting down; retry on another replica")
        if self.state == "startup_failed":
            raise NotReady("startup_failed", f"the service failed to start: {self.failure}")
        raise NotReady("starting", "the service is starting (loading models and stores)")

    def resources(self) -> Mapping[str, Any]:
        """The shared resources, once the service is ready."""
        self.check_ready()
        assert self._resources is not None
        return self._resources

    def ingested(self, kind: str, count: int = 1) -> None:
        """Count ``count`` ingested events of ``kind`` (``feedmixer_events_ingested_total``)."""
        if count:
            self.metrics.events_ingested.labels(kind).inc(count)
