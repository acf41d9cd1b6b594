"""The executor: runs one request through the stages, in the order of the DESIGN contract.

``Pipeline.execute`` reads top to bottom like the stage list. Everything a stage needs to
survive a bad component (timeouts, output checks, degradation records, timings) lives in
:class:`_Request`, so each stage is a few lines.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic

import anyio
import structlog

from pipeline.component import C, Component, Q
from pipeline.contract import (
    apply_output,
    apply_query_output,
    check_candidate_list,
    check_filter_result,
    check_output,
    check_query_output,
)
from pipeline.errors import DeadlineExceeded, RequiredComponentFailed
from pipeline.filter import Filter
from pipeline.guard import Outcome, call_hook, guarded_call
from pipeline.hydrator import Hydrator
from pipeline.query_hydrator import QueryHydrator
from pipeline.result import Degradation, PipelineResult, Removals, Timings
from pipeline.scorer import Scorer
from pipeline.selector import Selector
from pipeline.side_effect import SideEffect
from pipeline.source import Source

log = structlog.get_logger("feedmixer.pipeline")


@dataclass
class Pipeline(Generic[Q, C]):
    """A runnable candidate pipeline. Build it from a recipe with :func:`pipeline.load_recipe`
    or directly from component instances.

    Use it as ``result = await pipeline.execute(query)``; side effects keep running after
    ``execute`` returns, so call ``await pipeline.aclose()`` (or use ``async with pipeline``)
    to drain them and release components.
    """

    name: str
    query_hydrators: Sequence[QueryHydrator] = ()
    dependent_query_hydrators: Sequence[QueryHydrator] = ()
    sources: Sequence[Source] = ()
    hydrators: Sequence[Hydrator] = ()
    filters: Sequence[Filter] = ()
    scorers: Sequence[Scorer] = ()
    selector: Selector | None = None
    post_selection_hydrators: Sequence[Hydrator] = ()
    post_selection_filters: Sequence[Filter] = ()
    side_effects: Sequence[SideEffect] = ()
    result_size: int | None = None
    deadline_ms: float | None = None
    description: str = ""
    resources: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.query_type = _common_type(c.query_type for c in self.components())
        self.candidate_type = _common_type(c.candidate_type for c in self.components())
        self.score_fields = tuple(f for s in self.scorers for f in sorted(s.writes))
        self._warm = False
        self.broken: dict[str, str] = {}
        self._warm_lock = anyio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    def components(self) -> list[Component]:
        """Every component, in execution order."""
        selector = [self.selector] if self.selector else []
        return [
            *self.query_hydrators,
            *self.dependent_query_hydrators,
            *self.sources,
            *self.hydrators,
            *self.filters,
            *self.scorers,
            *selector,
            *self.post_selection_hydrators,
            *self.post_selection_filters,
            *self.side_effects,
        ]

    async def execute(
        self,
        query: Q,
        *,
        request_id: str | None = None,
        deadline_ms: float | None = None,
    ) -> PipelineResult[Q, C]:
        """Run one request. Never raises for an optional component's failure; raises
        :class:`~pipeline.errors.RequiredComponentFailed` when a ``required`` one degrades."""
        await self.warm_up()
        request = _Request(self, copy.copy(query), request_id, deadline_ms or self.deadline_ms)
        with structlog.contextvars.bound_contextvars(request_id=request.id, pipeline=self.name):
            await request.hydrate_query(self.query_hydrators, "query_hydrators")
            await request.hydrate_query(self.dependent_query_hydrators, "dependent_query_hydrators")
            candidates = await request.fetch(self.sources)
            candidates = await request.hydrate(self.hydrators, candidates, "hydrators")
            candidates = await request.filter(self.filters, candidates, "filters")
            candidates = await request.score(self.scorers, candidates)
            selected = await request.select(self.selector, candidates)
            selected = await request.hydrate(
                self.post_selection_hydrators, selected, "post_selection_hydrators"
            )
            selected = await request.filter(
                self.post_selection_filters, selected, "post_selection_filters"
            )
            result = request.finish(candidates, selected)
        self._start_side_effects(result)
        return result

    async def warm_up(self) -> None:
        """Run every component's ``warm_up`` once (``execute`` calls this on first use)."""
        if self._warm:
            return
        async with self._warm_lock:
            if self._warm:
                return
            for component in self.components():
                try:
                    await call_hook(component, "warm_up", self.resources)
                except Exception as exc:
                    # Degrade, don't crash: the component is skipped on every request (and
                    # reported each time) until the pipeline is rebuilt.
                    if component.required:
                        raise RequiredComponentFailed(
                            component.name, component.stage, "warm_up", repr(exc)
                        ) from exc
                    self.broken[component.name] = f"warm_up failed: {type(exc).__name__}: {exc}"
                    log.error("warm_up_failed", component=component.name, error=repr(exc))
            self._warm = True

    async def aclose(self) -> None:
        """Wait for running side effects, then close every component."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        for component in self.components():
            try:
                await call_hook(component, "close")
            except Exception as exc:
                log.warning("close_failed", component=component.name, error=str(exc))

    async def __aenter__(self) -> Pipeline[Q, C]:
        await self.warm_up()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _start_side_effects(self, result: PipelineResult[Q, C]) -> None:
        # asyncio tasks owned by the pipeline (not the caller's scope): they must outlive
        # execute() so they never delay the response; aclose() drains them.
        for side_effect in self.side_effects:
            if not side_effect.enabled:
                continue
            task = asyncio.get_running_loop().create_task(_run_side_effect(side_effect, result))
            self._background.add(task)
            task.add_done_callback(self._background.discard)


async def _run_side_effect(side_effect: SideEffect, result: PipelineResult) -> None:
    with structlog.contextvars.bound_contextvars(request_id=result.request_id):
        try:
            if not side_effect.enable(result.query):
                return
        except Exception as exc:
            log.error("side_effect_failed", component=side_effect.name, error=repr(exc))
            return
        budget = side_effect.timeout_ms / 1000 if side_effect.timeout_ms else math.inf
        outcome = await guarded_call(side_effect, "side_effects", (result.query, result), budget)
        if outcome.degradation:
            log.error(
                "side_effect_failed",
                component=side_effect.name,
                kind=outcome.degradation.kind,
                error=outcome.degradation.message,
            )


class _Request(Generic[Q, C]):
    """The state of one request while it moves through the stages."""

    def __init__(
        self, pipeline: Pipeline[Q, C], query: Q, request_id: str | None, deadline_ms: float | None
    ) -> None:
        self.pipeline = pipeline
        self.query = query
        self.id = request_id or uuid.uuid4().hex[:16]
        self.started = time.perf_counter()
        self.deadline = self.started + deadline_ms / 1000 if deadline_ms else math.inf
        self.retrieved: list[C] = []
        self.removals: list[Removals[C]] = []
        self.retrieved_by: dict[str, list[C]] = {}
        self.degradations: list[Degradation] = []
        self.timings = Timings()
        self._stage_start = self.started
        self.debug = log.is_enabled_for(logging.DEBUG)
        self._enabled: list[Component] = []
        self._disabled: list[Component] = []

    # -- stages -------------------------------------------------------------------------

    async def hydrate_query(self, hydrators: Sequence[QueryHydrator], stage: str) -> None:
        query_type = self.pipeline.query_type
        outcomes = await self._concurrently(
            hydrators,
            stage,
            lambda h: (self.query,),
            lambda h, value: check_query_output(h, stage, value, query_type),
        )
        for hydrator, outcome in outcomes:
            self._record(hydrator, apply_query_output(hydrator, self.query, outcome.value, stage))
        self._stage_done(stage, len(outcomes))

    async def fetch(self, sources: Sequence[Source]) -> list[C]:
        candidate_type = self.pipeline.candidate_type
        outcomes = await self._concurrently(
            sources,
            "sources",
            lambda s: (self.query,),
            lambda s, value: check_candidate_list(s, "sources", value, candidate_type),
        )
        for source, outcome in outcomes:
            self.retrieved_by[source.name] = outcome.value
            self.retrieved.extend(outcome.value)
        self._stage_done("sources", len(self.retrieved))
        return list(self.retrieved)

    async def hydrate(
        self, hydrators: Sequence[Hydrator], candidates: list[C], stage: str
    ) -> list[C]:
        candidate_type = self.pipeline.candidate_type
        count = len(candidates)
        outcomes = await self._concurrently(
            hydrators,
            stage,
            lambda h: (self.query, candidates),
            lambda h, value: check_output(h, stage, value, count, candidate_type),
        )
        for hydrator, outcome in outcomes:
            self._record(hydrator, apply_output(hydrator, stage, candidates, outcome.value))
        self._stage_done(stage, count)
        return candidates

    async def filter(self, filters: Sequence[Filter], candidates: list[C], stage: str) -> list[C]:
        self._stage_started(stage, *self._gate(filters, stage))
        for component in self._enabled:
            count = len(candidates)
            outcome = await self._call(
                component,
                stage,
                (self.query, candidates),
                lambda value, f=component, n=count: check_filter_result(f, stage, value, n),
            )
            if outcome.value is not None:
                candidates = list(outcome.value.kept)
                if outcome.value.removed:
                    self.removals.append(
                        Removals(component.name, stage, list(outcome.value.removed))
                    )
        self._stage_done(stage, len(candidates))
        return candidates

    async def score(self, scorers: Sequence[Scorer], candidates: list[C]) -> list[C]:
        self._stage_started("scorers", *self._gate(scorers, "scorers"))
        candidate_type = self.pipeline.candidate_type
        count = len(candidates)
        for component in self._enabled:
            outcome = await self._call(
                component,
                "scorers",
                (self.query, candidates),
                lambda value, s=component: check_output(s, "scorers", value, count, candidate_type),
            )
            if outcome.value is not None:
                self._record(
                    component, apply_output(component, "scorers", candidates, outcome.value)
                )
        self._stage_done("scorers", count)
        return candidates

    async def select(self, selector: Selector | None, candidates: list[C]) -> list[C]:
        self._stage_started("selector", *self._gate([selector] if selector else [], "selector"))
        selected = candidates
        for component in self._enabled:
            outcome = await self._call(
                component,
                "selector",
                (self.query, candidates),
                lambda value, s=component: check_candidate_list(
                    s, "selector", value, self.pipeline.candidate_type
                ),
            )
            if outcome.value is not None:
                selected = list(outcome.value)
        self._stage_done("selector", len(selected))
        return selected

    def finish(self, scored: list[C], selected: list[C]) -> PipelineResult[Q, C]:
        size = self.pipeline.result_size
        if size is not None:
            selected = selected[:size]
        self.timings.total_ms = (time.perf_counter() - self.started) * 1000
        log.info(
            "request_done",
            retrieved=len(self.retrieved),
            selected=len(selected),
            removed=sum(len(batch.candidates) for batch in self.removals),
            degraded=[d.component for d in self.degradations],
            ms=round(self.timings.total_ms, 3),
        )
        return PipelineResult(
            request_id=self.id,
            query=self.query,
            retrieved=self.retrieved,
            selected=selected,
            scored=scored,
            removals=self.removals,
            degradations=self.degradations,
            timings=self.timings,
            retrieved_by=self.retrieved_by,
            score_fields=self.pipeline.score_fields,
        )

    # -- helpers ------------------------------------------------------------------------

    async def _concurrently(
        self,
        components: Sequence[Component],
        stage: str,
        args: Callable[[Component], tuple[Any, ...]],
        check: Callable[[Component, Any], Degradation | None],
    ) -> list[tuple[Component, Outcome]]:
        """Run a concurrent stage; return the successful outcomes in recipe order."""
        self._stage_started(stage, *self._gate(components, stage))
        enabled = self._enabled
        outcomes: list[Outcome | None] = [None] * len(enabled)

        async def run(index: int, component: Component) -> None:
            outcomes[index] = await self._call(
                component, stage, args(component), lambda value: check(component, value)
            )

        # Inline sync components cannot overlap anyway (they hold the event loop), so they
        # run directly; only awaitable work pays for a task.
        concurrent = [(i, c) for i, c in enumerate(enabled) if c.is_async or c.run_in_thread]
        for index, component in enumerate(enabled):
            if not (component.is_async or component.run_in_thread):
                await run(index, component)
        if len(concurrent) == 1:
            await run(*concurrent[0])
        elif concurrent:
            try:
                async with anyio.create_task_group() as group:
                    for index, component in concurrent:
                        group.start_soon(run, index, component)
            except BaseExceptionGroup as errors:
                # a required component failed in a task: raise the typed error, not a group
                failed = errors.subgroup(RequiredComponentFailed)
                if failed is None:
                    raise
                first: BaseException = failed
                while isinstance(first, BaseExceptionGroup):
                    first = first.exceptions[0]
                raise first from None
        return [
            (component, outcome)
            for component, outcome in zip(enabled, outcomes, strict=True)
            if outcome is not None and outcome.value is not None
        ]

    async def _call(
        self,
        component: Component,
        stage: str,
        args: tuple[Any, ...],
        check: Callable[[Any], Degradation | None],
    ) -> Outcome:
        timeout = component.timeout_ms / 1000 if component.timeout_ms else math.inf
        remaining = self.deadline - time.perf_counter()
        if stage.endswith("filters") and not (component.is_async or component.run_in_thread):
            # A sync filter cannot be interrupted and is cheap; skipping it at the deadline
            # would serve unfiltered candidates (blocked authors, muted words).
            remaining = math.inf
        outcome = await guarded_call(component, stage, args, min(timeout, remaining), check)
        if remaining < timeout and outcome.degradation and outcome.degradation.kind == "timeout":
            # the request deadline, not the component's own timeout, cut it off
            outcome.degradation = Degradation(
                component.name,
                stage,
                "deadline",
                f"request deadline reached after {remaining * 1000:.0f} ms",
            )
        self.timings.components[component.name] = outcome.elapsed_ms
        self._record(component, outcome.degradation)
        return outcome

    def _record(self, component: Component, degradation: Degradation | None) -> None:
        if degradation is None:
            return
        self.degradations.append(degradation)
        log.warning(
            "component_degraded",
            component=degradation.component,
            stage=degradation.stage,
            kind=degradation.kind,
            message=degradation.message,
        )
        if component.required and degradation.kind != "candidate_failed":
            error = DeadlineExceeded if degradation.kind == "deadline" else RequiredComponentFailed
            raise error(
                degradation.component, degradation.stage, degradation.kind, degradation.message
            )

    def _gate(
        self, components: Sequence[Component], stage: str
    ) -> tuple[list[Component], list[Component]]:
        """Split components into those that run for this query and those that do not."""
        enabled: list[Component] = []
        disabled: list[Component] = []
        broken = self.pipeline.broken
        for component in components:
            if component.name in broken:
                self._record(
                    component,
                    Degradation(component.name, stage, "exception", broken[component.name]),
                )
                continue
            try:
                on = component.enabled and component.enable(self.query)
            except Exception as exc:
                self._record(
                    component,
                    Degradation(component.name, stage, "exception", f"enable() raised {exc!r}"),
                )
                continue
            (enabled if on else disabled).append(component)
        return enabled, disabled

    def _stage_started(
        self, stage: str, enabled: list[Component], disabled: list[Component]
    ) -> None:
        self._stage_start = time.perf_counter()
        self._enabled = enabled
        self._disabled = disabled

    def _stage_done(self, stage: str, count: int) -> None:
        """Record the stage's time and log one event with its candidate count."""
        elapsed_ms = (time.perf_counter() - self._stage_start) * 1000
        self.timings.stages[stage] = elapsed_ms
        if self.debug:
            log.debug(
                "stage_done",
                stage=stage,
                count=count,
                ms=round(elapsed_ms, 3),
                enabled=[c.name for c in self._enabled],
                disabled=[c.name for c in self._disabled],
            )


def _common_type(types: Any) -> type | None:
    """The most specific concrete type the components agree on (None if none declare one)."""
    found: type | None = None
    for candidate in types:
        if candidate is None:
            continue
        if found is None or issubclass(candidate, found):
            found = candidate
    return found
