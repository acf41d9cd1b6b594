"""The executor: runs one request through the stages, in the order of the DESIGN contract.

``Pipeline.execute`` reads top to bottom like the stage list. Everything a stage needs to
survive a bad component (timeouts, output checks, failure policies, degradation records,
timings) lives in :class:`_Request`, so each stage is a few lines.

Time limits. Every request has a deadline: the ``deadline_ms`` given to ``execute``, else the
pipeline's (the recipe's), else :data:`DEFAULT_DEADLINE_MS`. Every component call is bounded
by the smaller of its own ``timeout_ms`` and the time left; plain ``def`` components run in
abandonable worker threads (:mod:`pipeline.threads`), so the bound holds for them too.
Filters alone may run up to :data:`FILTER_GRACE_MS` past the deadline, because skipping a
filter serves what it exists to remove; a ``drop_all`` filter that cannot finish by then
removes everything instead. So a request returns by its deadline plus that grace, plus
scheduling slack. Side effects run after the response, each with its own budget
(:data:`DEFAULT_SIDE_EFFECT_TIMEOUT_MS` when it has none).
"""

from __future__ import annotations

import collections
import copy
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic

import anyio
import anyio.lowlevel
import structlog
from anyio.abc import TaskGroup

from pipeline.component import C, Component, Q
from pipeline.contract import (
    apply_output,
    apply_query_output,
    check_candidate_list,
    check_output,
    check_partition,
    check_query_output,
    check_selection,
)
from pipeline.errors import DeadlineExceeded, MissingResource, RequiredComponentFailed
from pipeline.filter import Filter
from pipeline.guard import Outcome, call_hook, guarded_call
from pipeline.hydrator import Hydrator
from pipeline.query_hydrator import QueryHydrator
from pipeline.result import Degradation, PipelineResult, Removals, Timings
from pipeline.scorer import Scorer
from pipeline.selector import Selector
from pipeline.side_effect import SideEffect
from pipeline.source import Source

DEFAULT_DEADLINE_MS = 5_000.0
"""The deadline of a request that has none (neither from ``execute`` nor from the recipe)."""

FILTER_GRACE_MS = 50.0
"""How far past the request deadline filters may still run (see the module docstring)."""

DEFAULT_SIDE_EFFECT_TIMEOUT_MS = 5_000.0
"""The time limit of a side effect without a ``timeout_ms`` of its own."""

DRAIN_TIMEOUT_MS = 10_000.0
"""How long leaving ``async with pipeline`` (or ``aclose``) waits for side effects still
running before it cancels them."""

MAX_DEFERRED = 64
"""Requests whose side effects wait for ``aclose`` when the pipeline is not entered (each
holds its whole result, so the bound is small)."""

log = structlog.get_logger("feedmixer.pipeline")


@dataclass
class Pipeline(Generic[Q, C]):
    """A runnable candidate pipeline. Build it from a recipe with :func:`pipeline.load_recipe`
    or directly from component instances.

    Use it as an async context manager, which owns the task group its side effects run in::

        async with pipeline:                       # warm_up, start the side-effect group
            result = await pipeline.execute(query) # returns before side effects finish
        # leaving waits up to DRAIN_TIMEOUT_MS for running side effects, cancels the rest,
        # then closes every component

    ``execute`` also works on a pipeline that is not entered; the side effects of such
    requests are then deferred (at most :data:`MAX_DEFERRED` requests' worth, oldest dropped)
    and run by ``await pipeline.aclose()`` or on the next ``async with`` — never while the
    caller waits for its response. ``deadline_ms`` of ``None`` means
    :data:`DEFAULT_DEADLINE_MS`.
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
        self._group: TaskGroup | None = None
        self._deferred: collections.deque[PipelineResult[Q, C]] = collections.deque()
        self._dropped = 0  # deferred requests whose side effects were dropped

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

    @property
    def needs(self) -> frozenset[str]:
        """The keys of the shared resources its components declare (``Component.needs``):
        what the application builds before ``load_recipe(..., resources=...)``."""
        return frozenset().union(*(component.needs for component in self.components()))

    def warnings(self) -> list[str]:
        """What is legal but likely a mistake (``feedmixer validate`` prints these): a
        component that fails the request (``on_failure: fail``) with no time bound of its own
        and no pipeline deadline, so only :data:`DEFAULT_DEADLINE_MS` bounds it."""
        found = []
        for component in self.components():
            if component.on_failure == "fail" and not component.timeout_ms and not self.deadline_ms:
                found.append(
                    f"{component.name!r} ({component.stage}) fails the request when it degrades "
                    f"but has no time bound (no timeout_ms and no recipe deadline_ms): only the "
                    f"default {DEFAULT_DEADLINE_MS:.0f} ms deadline limits it; "
                    "set timeout_ms on it or deadline_ms on the recipe"
                )
        return found

    async def execute(
        self,
        query: Q,
        *,
        request_id: str | None = None,
        deadline_ms: float | None = None,
    ) -> PipelineResult[Q, C]:
        """Run one request. Never raises for a component that fails open (``skip``) or
        drops candidates (``drop_all``); raises
        :class:`~pipeline.errors.RequiredComponentFailed` when a ``fail`` one degrades."""
        deadline_ms = deadline_ms or self.deadline_ms or DEFAULT_DEADLINE_MS
        if not 0 < deadline_ms < math.inf:
            raise ValueError(f"deadline_ms must be a positive, finite number, got {deadline_ms!r}")
        await self.warm_up()
        request = _Request(self, copy.copy(query), request_id, deadline_ms)
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
                    missing = component.needs - self.resources.keys()
                    if missing:
                        raise MissingResource(component.name, sorted(missing), self.resources)
                    await call_hook(component, "warm_up", self.resources)
                except Exception as exc:
                    # Degrade, don't crash: the component is skipped (or drops the candidates,
                    # per its policy) on every request, and reported each time, until the
                    # pipeline is rebuilt.
                    if component.required:
                        raise RequiredComponentFailed(
                            component.name, component.stage, "warm_up", repr(exc)
                        ) from exc
                    self.broken[component.name] = f"warm_up failed: {type(exc).__name__}: {exc}"
                    log.error("warm_up_failed", component=component.name, error=repr(exc))
            self._warm = True

    async def __aenter__(self) -> Pipeline[Q, C]:
        if self._group is not None:
            raise RuntimeError(f"pipeline {self.name!r} is already entered")
        await self.warm_up()
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        deferred, self._deferred = self._deferred, collections.deque()
        for result in deferred:
            self._spawn_side_effects(group, result)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        group, self._group = self._group, None
        if group is None:
            return None
        # running side effects get until the drain bound, then they are cancelled
        scope = group.cancel_scope
        scope.deadline = min(scope.deadline, anyio.current_time() + DRAIN_TIMEOUT_MS / 1000)
        try:
            if exc_info[1] is None or isinstance(exc_info[1], Exception):
                # drain; the block's own error (a failed request) then propagates as it is,
                # never wrapped in an ExceptionGroup
                await group.__aexit__(None, None, None)
                return None
            return await group.__aexit__(*exc_info)  # cancelled or interrupted: stop them
        finally:
            await self._close_components()

    async def aclose(self) -> None:
        """For a pipeline used without ``async with``: run the deferred side effects (within
        :data:`DRAIN_TIMEOUT_MS`), then close every component."""
        if self._group is not None:
            raise RuntimeError(
                f"pipeline {self.name!r} is entered with `async with`; leaving the block "
                "drains its side effects and closes it"
            )
        deferred, self._deferred = self._deferred, collections.deque()
        if deferred:
            with anyio.move_on_after(DRAIN_TIMEOUT_MS / 1000):
                async with anyio.create_task_group() as group:
                    for result in deferred:
                        self._spawn_side_effects(group, result)
        await self._close_components()

    async def _close_components(self) -> None:
        for component in self.components():
            try:
                await call_hook(component, "close")
            except Exception as exc:
                log.warning("close_failed", component=component.name, error=str(exc))

    def _start_side_effects(self, result: PipelineResult[Q, C]) -> None:
        if not any(side_effect.enabled for side_effect in self.side_effects):
            return
        if self._group is not None:
            self._spawn_side_effects(self._group, result)
            return
        if not self._deferred:
            log.info("side_effects_deferred", hint="use `async with pipeline:` to run them")
        self._deferred.append(result)
        if len(self._deferred) > MAX_DEFERRED:
            self._deferred.popleft()
            self._dropped += 1
            if self._dropped == 1:  # once, not once per request
                log.error(
                    "side_effects_dropped",
                    limit=MAX_DEFERRED,
                    hint="the pipeline is not entered: use `async with pipeline:`",
                )

    def _spawn_side_effects(self, group: TaskGroup, result: PipelineResult[Q, C]) -> None:
        for side_effect in self.side_effects:
            if side_effect.enabled:
                group.start_soon(_run_side_effect, side_effect, result, name=side_effect.name)


async def _run_side_effect(side_effect: SideEffect, result: PipelineResult) -> None:
    """Run one side effect within its budget; log its failure, never raise it (an error here
    would cancel the pipeline's task group and the code inside ``async with pipeline``)."""
    with structlog.contextvars.bound_contextvars(request_id=result.request_id):
        try:
            if not side_effect.enable(result.query):
                return
        except Exception as exc:
            log.error("side_effect_failed", component=side_effect.name, error=repr(exc))
            return
        budget_ms = side_effect.timeout_ms or DEFAULT_SIDE_EFFECT_TIMEOUT_MS
        outcome = await guarded_call(
            side_effect, "side_effects", (result.query, result), budget_ms / 1000
        )
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
        self, pipeline: Pipeline[Q, C], query: Q, request_id: str | None, deadline_ms: float
    ) -> None:
        self.pipeline = pipeline
        self.query = query
        self.id = request_id or uuid.uuid4().hex[:16]
        self.started = time.perf_counter()
        self.deadline = self.started + deadline_ms / 1000
        self.retrieved: list[C] = []
        self.removals: list[Removals[C]] = []
        self.retrieved_by: dict[str, list[C]] = {}
        self.degradations: list[Degradation] = []
        self.timings = Timings()
        self._stage_start = self.started
        self.debug = log.is_enabled_for(logging.DEBUG)
        self._enabled: list[Component] = []
        self._disabled: list[Component] = []
        # degradations of `drop_all` components in the running stage, not yet acted on
        self._drops: list[Degradation] = []
        # a `drop_all` query hydrator degraded: every candidate goes right after the sources
        self._unsafe_query: Degradation | None = None

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
        if self._drops and self._unsafe_query is None:
            self._unsafe_query = self._drops[0]
        self._drops.clear()
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
        candidates = list(self.retrieved)
        if self._unsafe_query is not None:
            candidates = self._remove_all(self._unsafe_query, candidates)
        self._stage_done("sources", len(self.retrieved))
        return candidates

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
        failed: dict[int, Degradation] = {}  # row -> the drop_all hydrator that failed it
        for hydrator, outcome in outcomes:
            degradation = apply_output(hydrator, stage, candidates, outcome.value)
            self._record(hydrator, degradation)
            for row in self._failed_rows(hydrator, degradation, outcome.value):
                failed.setdefault(row, degradation)  # type: ignore[arg-type]
        survivors = self._apply_drops(candidates, failed)
        self._stage_done(stage, count)
        return survivors

    async def filter(self, filters: Sequence[Filter], candidates: list[C], stage: str) -> list[C]:
        self._stage_started(stage, *self._gate(filters, stage))
        candidates = self._apply_drops(candidates)  # a drop_all filter whose gate failed
        ids: list[set[int] | None] = [None]  # id()s of `candidates`, once a filter checked them

        def check(value: Any, component: Component, given: list[C]) -> Degradation | None:
            degradation, ids[0] = check_partition(component, stage, value, given, ids[0])
            return degradation

        for component in self._enabled:
            outcome = await self._call(
                component,
                stage,
                (self.query, candidates),
                lambda value, f=component, given=candidates: check(value, f, given),
            )
            if outcome.value is not None:
                candidates = list(outcome.value.kept)
                if outcome.value.removed:
                    self.removals.append(
                        Removals(component.name, stage, list(outcome.value.removed))
                    )
            else:
                ids[0] = None  # a failed check leaves a set that may not match `candidates`
            before = len(candidates)
            candidates = self._apply_drops(candidates)
            if len(candidates) != before:
                ids[0] = None
        self._stage_done(stage, len(candidates))
        return candidates

    async def score(self, scorers: Sequence[Scorer], candidates: list[C]) -> list[C]:
        self._stage_started("scorers", *self._gate(scorers, "scorers"))
        candidates = self._apply_drops(candidates)  # a drop_all scorer whose gate failed
        candidate_type = self.pipeline.candidate_type
        for component in self._enabled:
            count = len(candidates)
            outcome = await self._call(
                component,
                "scorers",
                (self.query, candidates),
                lambda value, s=component, n=count: check_output(
                    s, "scorers", value, n, candidate_type
                ),
            )
            failed: dict[int, Degradation] = {}
            if outcome.value is not None:
                degradation = apply_output(component, "scorers", candidates, outcome.value)
                self._record(component, degradation)
                rows = self._failed_rows(component, degradation, outcome.value)
                failed = dict.fromkeys(rows, degradation)  # type: ignore[arg-type]
            candidates = self._apply_drops(candidates, failed)
        self._stage_done("scorers", len(candidates))
        return candidates

    async def select(self, selector: Selector | None, candidates: list[C]) -> list[C]:
        self._stage_started("selector", *self._gate([selector] if selector else [], "selector"))
        candidate_type = self.pipeline.candidate_type
        selected = candidates
        for component in self._enabled:
            outcome = await self._call(
                component,
                "selector",
                (self.query, candidates),
                lambda value, s=component: (
                    check_candidate_list(s, "selector", value, candidate_type)
                    or check_selection(s, "selector", value, candidates)
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

        # a call that runs inline cannot overlap anything, so it needs no task of its own; it
        # runs after the others have started, overlapping their threads and I/O
        inline = [(i, c) for i, c in enumerate(enabled) if c.runs_inline]
        concurrent = [(i, c) for i, c in enumerate(enabled) if not c.runs_inline]
        if len(concurrent) <= 1 and not (concurrent and inline):
            for index, component in inline or concurrent:
                await run(index, component)
        else:
            try:
                async with anyio.create_task_group() as group:
                    for index, component in concurrent:
                        group.start_soon(run, index, component)
                    if inline:
                        await anyio.lowlevel.checkpoint()  # let them start
                        for index, component in inline:
                            await run(index, component)
            except BaseExceptionGroup as errors:
                # a `fail` component failed in a task: raise the typed error, not a group
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
        end = self.deadline
        if stage.endswith("filters"):
            # skipping a filter serves what it exists to remove: filters get a short grace
            end += FILTER_GRACE_MS / 1000
        remaining = end - time.perf_counter()
        outcome = await guarded_call(component, stage, args, min(timeout, remaining), check)
        if remaining < timeout and outcome.degradation and outcome.degradation.kind == "timeout":
            # the request deadline, not the component's own timeout, cut it off
            outcome.degradation = Degradation(
                component.name,
                stage,
                "deadline",
                f"request deadline reached after {remaining * 1000:.0f} ms "
                f"({outcome.degradation.message})",
            )
        self.timings.components[component.name] = outcome.elapsed_ms
        self._record(component, outcome.degradation or outcome.partial)
        return outcome

    def _record(self, component: Component, degradation: Degradation | None) -> None:
        """Record a degradation and apply the component's failure policy: ``fail`` raises,
        ``drop_all`` leaves it for the stage to remove its candidates (see ``_apply_drops``).
        Single-candidate failures never fail the request (the stage handles them), and a
        partial answer is applied, so no policy acts on it."""
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
        if degradation.kind in ("candidate_failed", "partial"):
            return
        if component.on_failure == "fail":
            error = DeadlineExceeded if degradation.kind == "deadline" else RequiredComponentFailed
            raise error(
                degradation.component, degradation.stage, degradation.kind, degradation.message
            )
        if component.on_failure == "drop_all":
            self._drops.append(degradation)

    @staticmethod
    def _failed_rows(
        component: Component, degradation: Degradation | None, value: Any
    ) -> list[int]:
        """The rows a ``drop_all`` hydrator or scorer failed for alone (an Exception there)."""
        if (
            degradation is None
            or degradation.kind != "candidate_failed"
            or component.on_failure != "drop_all"
        ):
            return []
        return [row for row, item in enumerate(value) if isinstance(item, Exception)]

    def _apply_drops(
        self, candidates: list[C], failed: Mapping[int, Degradation] | None = None
    ) -> list[C]:
        """Remove what ``drop_all`` components could not clear: every candidate if one of
        them degraded, else the rows one of them failed for alone."""
        if self._drops:
            first = self._drops[0]
            self._drops.clear()
            return self._remove_all(first, candidates)
        if not failed:
            return candidates
        by_component: dict[str, tuple[Degradation, list[C]]] = {}
        for row, degradation in sorted(failed.items()):
            batch = by_component.setdefault(degradation.component, (degradation, []))
            batch[1].append(candidates[row])
        for degradation, removed in by_component.values():
            reason = f"it failed for these candidates: {degradation.message}"
            self._record_drop(degradation, removed, reason)
        return [c for row, c in enumerate(candidates) if row not in failed]

    def _remove_all(self, degradation: Degradation, candidates: list[C]) -> list[C]:
        if candidates:
            reason = f"it degraded ({degradation.kind}: {degradation.message})"
            self._record_drop(degradation, list(candidates), reason)
        return []

    def _record_drop(self, degradation: Degradation, removed: list[C], reason: str) -> None:
        """Record candidates a ``drop_all`` component removed, and why."""
        self.removals.append(
            Removals(
                degradation.component,
                degradation.stage,
                removed,
                f"on_failure: drop_all, and {reason}",
            )
        )
        log.warning(
            "candidates_dropped",
            component=degradation.component,
            stage=degradation.stage,
            count=len(removed),
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
