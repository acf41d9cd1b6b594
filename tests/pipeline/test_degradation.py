"""Graceful degradation: one bad component never takes the request down, and every
degradation is recorded as (component, stage, kind, message)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from pipeline import (
    DeadlineExceeded,
    Filter,
    FilterResult,
    Hydrator,
    Pipeline,
    QueryHydrator,
    RequiredComponentFailed,
    Scorer,
    Selector,
    SideEffect,
    Source,
)
from pipeline.builtins import TopK
from pipeline.component import Component
from pipeline.examples.toy import (
    Affinity,
    Catalog,
    MaxAge,
    MutedTopic,
    Popularity,
    ToyItem,
    ToyQuery,
    UserProfile,
)
from pipeline.executor import FILTER_GRACE_MS
from tests.pipeline.backends import on_both_backends

MakeFault = Callable[..., Component]

QUERY = ToyQuery(user_id=5)


def toy_pipeline(**extra: Any) -> Pipeline:
    """The toy feed built in Python; ``extra`` appends components to stage lists (or sets
    other Pipeline fields)."""
    stages: dict[str, Any] = {
        "query_hydrators": [UserProfile()],
        "dependent_query_hydrators": [],
        "sources": [Catalog(n=60, seed=3)],
        "hydrators": [Popularity()],
        "filters": [MutedTopic(), MaxAge(max_age_h=48)],
        "scorers": [Affinity()],
        "selector": TopK(k=10),
        "post_selection_hydrators": [],
        "post_selection_filters": [],
        "side_effects": [],
        "result_size": 5,
    }
    for key, value in extra.items():
        stages[key] = [*stages[key], *value] if isinstance(value, list) else value
    return Pipeline("toy", **stages)


def served(result: Any) -> list[tuple[int, float]]:
    return [(c.id, c.score) for c in result.selected]


def kinds(result: Any) -> list[tuple[str, str, str]]:
    return [(d.component, d.stage, d.kind) for d in result.degradations]


@pytest.fixture
async def baseline() -> list[tuple[int, float]]:
    return served(await toy_pipeline().execute(QUERY))


# -- every fault kind, at every stage -------------------------------------------------------

FAULT_SLOTS = [
    ("query_hydrator", "query_hydrators"),
    ("query_hydrator", "dependent_query_hydrators"),
    ("source", "sources"),
    ("hydrator", "hydrators"),
    ("filter", "filters"),
    ("scorer", "scorers"),
    ("hydrator", "post_selection_hydrators"),
    ("filter", "post_selection_filters"),
]


def expected_kind(fault_stage: str, mode: str) -> str:
    if mode == "wrong_length" and fault_stage in ("query_hydrator", "source"):
        return "wrong_type"  # no length contract there: the fault answers with a wrong type
    return {
        "raise": "exception",
        "hang": "timeout",
        "wrong_length": "wrong_length",
        "wrong_type": "wrong_type",
    }[mode]


@pytest.mark.parametrize("mode", ["raise", "hang", "wrong_length", "wrong_type"])
@pytest.mark.parametrize(("fault_stage", "stage"), FAULT_SLOTS)
@on_both_backends
async def test_faulty_component_is_skipped_and_recorded_and_the_rest_is_served(
    make_fault: MakeFault, baseline: list, fault_stage: str, stage: str, mode: str
) -> None:
    fault = make_fault(fault_stage, mode, name="bad", timeout_ms=20)
    result = await toy_pipeline(**{stage: [fault]}).execute(QUERY)
    assert kinds(result) == [("bad", stage, expected_kind(fault_stage, mode))]
    assert result.degradations[0].message
    assert served(result) == baseline


@pytest.mark.parametrize(("fault_stage", "stage"), FAULT_SLOTS)
@on_both_backends
async def test_slow_component_within_its_timeout_is_not_a_degradation(
    make_fault: MakeFault, baseline: list, fault_stage: str, stage: str
) -> None:
    fault = make_fault(fault_stage, "slow", delay_ms=1, name="slow", timeout_ms=2000)
    result = await toy_pipeline(**{stage: [fault]}).execute(QUERY)
    assert result.degradations == []
    assert served(result) == baseline
    assert result.timings.components["slow"] >= 1.0


@on_both_backends
async def test_hung_component_is_cut_off_at_its_timeout(make_fault: MakeFault) -> None:
    fault = make_fault("source", "hang", name="hung", timeout_ms=30)
    start = time.perf_counter()
    result = await toy_pipeline(sources=[fault]).execute(QUERY)
    assert time.perf_counter() - start < 1.0
    assert kinds(result) == [("hung", "sources", "timeout")]
    assert "30 ms" in result.degradations[0].message
    assert len(result.selected) == 5


@on_both_backends
async def test_hung_sync_component_in_a_thread_is_abandoned_at_its_timeout() -> None:
    class Blocking(Hydrator[ToyQuery, ToyItem]):
        run_in_thread = True

        def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
            time.sleep(0.5)
            return [{} for _ in candidates]

    start = time.perf_counter()
    result = await toy_pipeline(hydrators=[Blocking(timeout_ms=30)]).execute(QUERY)
    assert time.perf_counter() - start < 0.4
    assert kinds(result) == [("Blocking", "hydrators", "timeout")]


@on_both_backends
async def test_failing_selector_keeps_scorer_order_and_result_size_still_applies() -> None:
    class Broken(Selector[ToyQuery, ToyItem]):
        def select(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[ToyItem]:
            raise ValueError("boom")

    scored = await toy_pipeline(selector=None, result_size=None).execute(QUERY)
    result = await toy_pipeline(selector=Broken()).execute(QUERY)
    assert kinds(result) == [("Broken", "selector", "exception")]
    assert "ValueError: boom" in result.degradations[0].message
    assert [c.id for c in result.selected] == [c.id for c in scored.selected][:5]


@on_both_backends
async def test_selector_returning_the_wrong_type_is_skipped() -> None:
    class Names(Selector[ToyQuery, ToyItem]):
        def select(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
            return [str(c.id) for c in candidates]

    result = await toy_pipeline(selector=Names()).execute(QUERY)
    assert kinds(result) == [("Names", "selector", "wrong_type")]
    assert len(result.selected) == 5


@on_both_backends
async def test_enable_raising_is_recorded_as_an_exception_and_the_component_skipped(
    baseline: list,
) -> None:
    class Moody(Filter[ToyQuery, ToyItem]):
        def enable(self, query: ToyQuery) -> bool:
            raise LookupError("no flag service")

        def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
            return FilterResult([], list(candidates))

    result = await toy_pipeline(filters=[Moody()]).execute(QUERY)
    assert kinds(result) == [("Moody", "filters", "exception")]
    assert "enable()" in result.degradations[0].message
    assert "no flag service" in result.degradations[0].message
    assert served(result) == baseline


# -- declared writes only -----------------------------------------------------------------


class TagsButAlsoPopularity(Hydrator[ToyQuery, ToyItem]):
    """Declares ``tags`` but returns dicts that also set ``popularity``."""

    writes = {"tags"}

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[dict[str, Any]]:
        return [{"tags": ["x"], "popularity": -1.0} for _ in candidates]


class TagsViaCandidateCopies(Hydrator[ToyQuery, ToyItem]):
    """Declares ``tags`` and returns candidate copies with other fields changed too."""

    writes = {"tags"}

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[ToyItem]:
        return [
            dataclasses.replace(c, tags=["copied"], popularity=-1.0, topic="hacked")
            for c in candidates
        ]


@on_both_backends
async def test_undeclared_write_skips_the_whole_output_and_cannot_clobber_another_field(
    baseline: list,
) -> None:
    result = await toy_pipeline(hydrators=[TagsButAlsoPopularity()]).execute(QUERY)
    assert kinds(result) == [("TagsButAlsoPopularity", "hydrators", "undeclared_write")]
    assert "popularity" in result.degradations[0].message
    assert all(c.tags == [] for c in result.retrieved)  # not even the declared field
    assert all(c.popularity is not None and c.popularity >= 0 for c in result.retrieved)
    assert served(result) == baseline


@on_both_backends
async def test_undeclared_column_is_an_undeclared_write() -> None:
    class ScoresFromAHydrator(Hydrator[ToyQuery, ToyItem]):
        writes = {"tags"}

        def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list]:
            return {"score": [99.0] * len(candidates)}

    result = await toy_pipeline(hydrators=[ScoresFromAHydrator()]).execute(QUERY)
    assert kinds(result) == [("ScoresFromAHydrator", "hydrators", "undeclared_write")]
    assert all(c.score != 99.0 for c in result.selected)


@on_both_backends
async def test_returned_candidate_copies_apply_only_the_declared_fields(baseline: list) -> None:
    result = await toy_pipeline(hydrators=[TagsViaCandidateCopies()]).execute(QUERY)
    assert result.degradations == []
    assert all(c.tags == ["copied"] for c in result.retrieved)
    assert all(c.topic != "hacked" and c.popularity >= 0 for c in result.retrieved)
    assert served(result) == baseline


@on_both_backends
async def test_query_hydrator_undeclared_write_leaves_the_query_unchanged() -> None:
    class Greedy(QueryHydrator[ToyQuery, ToyItem]):
        writes = {"followed"}

        def hydrate(self, query: ToyQuery) -> dict[str, Any]:
            return {"followed": frozenset({1}), "user_id": 999}

    result = await Pipeline("t", query_hydrators=[Greedy()]).execute(QUERY)
    assert kinds(result) == [("Greedy", "query_hydrators", "undeclared_write")]
    assert (result.query.user_id, result.query.followed) == (5, None)


class WritesAFieldToyItemLacks(Hydrator[ToyQuery, ToyItem]):
    writes = {"tags", "bogus"}

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list]:
        return {"bogus": [1] * len(candidates)}


class WritesAFieldToyQueryLacks(QueryHydrator[ToyQuery, ToyItem]):
    writes = {"bogus"}

    def hydrate(self, query: ToyQuery) -> dict[str, Any]:
        return {"bogus": 1}


@pytest.mark.parametrize(
    ("component", "stage"),
    [(WritesAFieldToyItemLacks(), "hydrators"), (WritesAFieldToyQueryLacks(), "query_hydrators")],
)
@on_both_backends
async def test_declared_write_the_type_cannot_hold_degrades_instead_of_failing_the_request(
    baseline: list, component: Component, stage: str
) -> None:
    result = await toy_pipeline(**{stage: [component]}).execute(QUERY)
    assert kinds(result) == [(component.name, stage, "exception")]
    assert "bogus" in result.degradations[0].message
    assert served(result) == baseline


class ScoreIsId(Scorer[ToyQuery, ToyItem]):
    writes = {"score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list]:
        return {"score": [float(c.id) for c in candidates]}


class TimesTenExceptEvenIds(Scorer[ToyQuery, ToyItem]):
    """Fails for even ids only, by returning an Exception instance in their slot."""

    reads = {"score"}
    writes = {"score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
        return [
            KeyError(f"no features for {c.id}") if c.id % 2 == 0 else {"score": c.score * 10}
            for c in candidates
        ]


class Ids(Source[ToyQuery, ToyItem]):
    def __init__(self, item_ids: Sequence[int], **options: Any) -> None:
        super().__init__(**options)
        self.item_ids = list(item_ids)

    def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
        return [ToyItem(i, 0, "cats", 1.0) for i in self.item_ids]


@on_both_backends
async def test_failed_candidate_keeps_its_old_fields_and_is_recorded_with_its_id() -> None:
    pipeline = Pipeline(
        "t", sources=[Ids([1, 2, 3, 4])], scorers=[ScoreIsId(), TimesTenExceptEvenIds()]
    )
    result = await pipeline.execute(QUERY)
    assert [(c.id, c.score) for c in result.selected] == [(1, 10.0), (2, 2.0), (3, 30.0), (4, 4.0)]
    [degradation] = result.degradations
    assert (degradation.component, degradation.stage, degradation.kind) == (
        "TimesTenExceptEvenIds",
        "scorers",
        "candidate_failed",
    )
    assert degradation.candidate_ids == (2, 4)
    assert "no features for 2" in degradation.message
    assert degradation.as_dict()["candidate_ids"] == [2, 4]


@on_both_backends
async def test_required_component_with_single_candidate_failures_still_serves() -> None:
    pipeline = Pipeline(
        "t",
        sources=[Ids([1, 2])],
        scorers=[ScoreIsId(), TimesTenExceptEvenIds(required=True)],
    )
    result = await pipeline.execute(QUERY)
    assert kinds(result) == [("TimesTenExceptEvenIds", "scorers", "candidate_failed")]


# -- required components fail closed ------------------------------------------------------


@pytest.mark.parametrize("mode", ["raise", "hang", "wrong_type"])
@pytest.mark.parametrize(("fault_stage", "stage"), FAULT_SLOTS)
@on_both_backends
async def test_required_component_that_degrades_fails_the_request_naming_it(
    make_fault: MakeFault, fault_stage: str, stage: str, mode: str
) -> None:
    fault = make_fault(fault_stage, mode, name="must_work", timeout_ms=20, required=True)
    with pytest.raises(RequiredComponentFailed, match="must_work") as caught:
        await toy_pipeline(**{stage: [fault]}).execute(QUERY)
    assert (caught.value.component, caught.value.stage) == ("must_work", stage)
    assert caught.value.kind == expected_kind(fault_stage, mode)


@on_both_backends
async def test_required_failure_among_concurrent_components_raises_the_typed_error(
    make_fault: MakeFault,
) -> None:
    pipeline = toy_pipeline(
        sources=[
            make_fault("source", "slow", name="fine", delay_ms=5),
            make_fault("source", "raise", name="must_work", required=True),
            make_fault("source", "hang", name="hung", timeout_ms=2000),
        ]
    )
    with pytest.raises(RequiredComponentFailed, match="must_work") as caught:
        await pipeline.execute(QUERY)
    assert caught.value.kind == "exception"


@on_both_backends
async def test_required_component_whose_enable_raises_fails_the_request() -> None:
    class Gate(Filter[ToyQuery, ToyItem]):
        def enable(self, query: ToyQuery) -> bool:
            raise RuntimeError("flag store down")

        def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
            return FilterResult(list(candidates))

    with pytest.raises(RequiredComponentFailed, match="Gate"):
        await toy_pipeline(filters=[Gate(required=True)]).execute(QUERY)


@on_both_backends
async def test_required_component_disabled_for_the_query_does_not_fail_the_request(
    make_fault: MakeFault,
) -> None:
    fault = make_fault("filter", "raise", name="off", required=True, enabled=False)
    result = await toy_pipeline(filters=[fault]).execute(QUERY)
    assert result.degradations == []


# -- request deadline ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["pipeline", "execute"])
@on_both_backends
async def test_hung_source_is_skipped_before_the_request_deadline(
    make_fault: MakeFault, where: str
) -> None:
    hung = make_fault("source", "hang", name="hung")  # no timeout of its own
    pipeline = toy_pipeline(sources=[hung])
    start = time.perf_counter()
    if where == "pipeline":
        pipeline.deadline_ms = 100
        result = await pipeline.execute(QUERY)
    else:
        result = await pipeline.execute(QUERY, deadline_ms=100)
    elapsed = time.perf_counter() - start
    assert 0.09 < elapsed < 1.0
    assert (result.degradations[0].component, result.degradations[0].kind) == ("hung", "deadline")


@on_both_backends
async def test_components_after_the_deadline_are_skipped_as_deadline(
    make_fault: MakeFault,
) -> None:
    hung = make_fault("hydrator", "hang", name="hung")
    result = await toy_pipeline(hydrators=[hung], deadline_ms=50).execute(QUERY)
    assert ("hung", "hydrators", "deadline") in kinds(result)
    later = {d.component for d in result.degradations if d.kind == "deadline"}
    assert {"example.affinity", "top_k"} <= later
    assert len(result.selected) == 5  # still an answer, truncated to result_size


@on_both_backends
async def test_sync_filters_still_run_after_the_deadline(make_fault: MakeFault) -> None:
    # Skipping a filter at the deadline would serve what it exists to remove: filters get a
    # short grace past it (FILTER_GRACE_MS).
    hung = make_fault("hydrator", "hang", name="hung")
    result = await toy_pipeline(hydrators=[hung], deadline_ms=50).execute(QUERY)
    skipped = {d.component for d in result.degradations}
    assert not {"example.muted_topic", "example.max_age"} & skipped
    muted = result.query.muted_topics
    assert muted and all(c.topic not in muted for c in result.selected)
    assert {r.filter for r in result.removed} >= {"example.muted_topic"}


@on_both_backends
async def test_filter_reached_after_the_deadline_still_runs_within_the_grace(
    make_fault: MakeFault,
) -> None:
    hung = make_fault("hydrator", "hang", name="hung")
    slow_filter = make_fault("filter", "slow", name="async_filter", delay_ms=0)
    pipeline = toy_pipeline(hydrators=[hung], filters=[slow_filter], deadline_ms=50)
    result = await pipeline.execute(QUERY)
    assert "async_filter" not in {d.component for d in result.degradations}
    assert "async_filter" in result.timings.components


@on_both_backends
async def test_filter_that_cannot_finish_within_the_grace_is_cut_off_as_deadline(
    make_fault: MakeFault,
) -> None:
    hung = make_fault("hydrator", "hang", name="hung")
    slow_filter = make_fault("filter", "slow", name="async_filter", delay_ms=2000)
    pipeline = toy_pipeline(hydrators=[hung], filters=[slow_filter], deadline_ms=50)
    start = time.perf_counter()
    result = await pipeline.execute(QUERY)
    assert time.perf_counter() - start < 0.05 + FILTER_GRACE_MS / 1000 + 0.2
    assert ("async_filter", "filters", "deadline") in kinds(result)


@on_both_backends
async def test_component_whose_warm_up_fails_is_skipped_on_every_request() -> None:
    class BrokenSetup(Filter[ToyQuery, ToyItem]):
        def warm_up(self, resources: object) -> None:
            raise ConnectionError("store unreachable")

        def filter(self, query: ToyQuery, candidates: list[ToyItem]) -> FilterResult[ToyItem]:
            return FilterResult([])

    pipeline = toy_pipeline(filters=[BrokenSetup(name="broken")])
    for _ in range(2):
        result = await pipeline.execute(QUERY)
        assert result.selected  # the broken filter (which would drop everything) is skipped
        (degradation,) = [d for d in result.degradations if d.component == "broken"]
        assert degradation.kind == "exception"
        assert "warm_up failed: ConnectionError: store unreachable" in degradation.message


@on_both_backends
async def test_required_component_whose_warm_up_fails_fails_the_request() -> None:
    class BrokenSetup(Filter[ToyQuery, ToyItem]):
        def warm_up(self, resources: object) -> None:
            raise ConnectionError("store unreachable")

        def filter(self, query: ToyQuery, candidates: list[ToyItem]) -> FilterResult[ToyItem]:
            return FilterResult(list(candidates))

    pipeline = toy_pipeline(filters=[BrokenSetup(name="broken", required=True)])
    with pytest.raises(RequiredComponentFailed, match="broken"):
        await pipeline.execute(QUERY)


class NeedsStore(Filter[ToyQuery, ToyItem]):
    """Drops everything once warmed up with its declared store."""

    needs = {"store"}

    def warm_up(self, resources: Any) -> None:
        self.store = resources["store"]

    def filter(self, query: ToyQuery, candidates: list[ToyItem]) -> FilterResult[ToyItem]:
        return FilterResult([], removed=list(candidates))


@on_both_backends
async def test_component_whose_declared_resource_is_missing_is_skipped_naming_the_key() -> None:
    pipeline = toy_pipeline(filters=[NeedsStore(name="needs_store")], resources={"other": 1})
    result = await pipeline.execute(QUERY)
    assert result.selected  # skipped: its warm_up never ran
    (degradation,) = [d for d in result.degradations if d.component == "needs_store"]
    assert "MissingResource: component 'needs_store' needs resources['store']" in (
        degradation.message
    )
    assert "Present: ['other']" in degradation.message


class MaybeNeedsStore(Filter[ToyQuery, ToyItem]):
    """Takes the store only when its params say so (``optional_needs``)."""

    class Params(BaseModel):
        use_store: bool = False

    optional_needs = {"store"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.params.use_store:
            self.needs = self.needs | self.optional_needs

    def filter(self, query: ToyQuery, candidates: list[ToyItem]) -> FilterResult[ToyItem]:
        return FilterResult([], removed=list(candidates))


@on_both_backends
async def test_an_optional_resource_is_needed_only_by_the_instances_whose_params_use_it() -> None:
    without = toy_pipeline(filters=[MaybeNeedsStore(name="maybe")], resources={"other": 1})
    assert "store" not in without.needs
    result = await without.execute(QUERY)
    assert not result.selected and not result.degradations  # it ran: no store needed
    using = toy_pipeline(
        filters=[MaybeNeedsStore(name="maybe", use_store=True)], resources={"other": 1}
    )
    assert "store" in using.needs
    result = await using.execute(QUERY)
    assert result.selected  # skipped, naming the key
    (degradation,) = [d for d in result.degradations if d.component == "maybe"]
    assert "needs resources['store']" in degradation.message


@on_both_backends
async def test_required_component_whose_declared_resource_is_missing_fails_the_request() -> None:
    pipeline = toy_pipeline(filters=[NeedsStore(name="needs_store", required=True)])
    with pytest.raises(RequiredComponentFailed, match=r"needs resources\['store'\]"):
        await pipeline.execute(QUERY)


@on_both_backends
async def test_component_gets_its_declared_resource() -> None:
    pipeline = toy_pipeline(filters=[NeedsStore(name="needs_store")], resources={"store": 1})
    result = await pipeline.execute(QUERY)
    assert not result.selected and not result.degradations


@on_both_backends
async def test_numpy_array_columns_are_applied_as_plain_numbers() -> None:
    import numpy as np

    class ArrayScorer(Scorer[ToyQuery, ToyItem]):
        writes = {"score"}

        def score(self, query: ToyQuery, candidates: list[ToyItem]) -> dict[str, object]:
            return {"score": np.arange(len(candidates), dtype=np.float32)}

    result = await toy_pipeline(scorers=[ArrayScorer(name="array")]).execute(QUERY)
    assert not result.degradations
    assert all(type(c.score) is float for c in result.selected)


@on_both_backends
async def test_required_component_after_the_deadline_raises_deadline_exceeded(
    make_fault: MakeFault,
) -> None:
    hung = make_fault("hydrator", "hang", name="hung")
    required = make_fault("scorer", "slow", name="ranker", delay_ms=0, required=True)
    pipeline = toy_pipeline(hydrators=[hung], scorers=[required], deadline_ms=50)
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded, match="ranker"):
        await pipeline.execute(QUERY)
    assert time.perf_counter() - start < 1.0


@on_both_backends
async def test_required_filter_hung_past_the_grace_raises_deadline_exceeded(
    make_fault: MakeFault,
) -> None:
    hung = make_fault("hydrator", "hang", name="hung")
    required = make_fault("filter", "hang", name="safety", required=True)
    pipeline = toy_pipeline(hydrators=[hung], filters=[required], deadline_ms=50)
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded, match="safety"):
        await pipeline.execute(QUERY)
    assert time.perf_counter() - start < 0.05 + FILTER_GRACE_MS / 1000 + 0.2


@on_both_backends
async def test_required_component_hung_at_the_deadline_raises_deadline_exceeded(
    make_fault: MakeFault,
) -> None:
    hung = make_fault("source", "hang", name="must_answer", required=True)
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded, match="must_answer"):
        await toy_pipeline(sources=[hung], deadline_ms=50).execute(QUERY)
    assert time.perf_counter() - start < 1.0


@on_both_backends
async def test_component_timeout_shorter_than_the_deadline_is_a_timeout(
    make_fault: MakeFault,
) -> None:
    hung = make_fault("source", "hang", name="hung", timeout_ms=20)
    result = await toy_pipeline(sources=[hung], deadline_ms=2000).execute(QUERY)
    assert kinds(result) == [("hung", "sources", "timeout")]


# -- cancellation ---------------------------------------------------------------------------


class Waits(Source[ToyQuery, ToyItem]):
    """Hangs until cancelled, and records that it was."""

    def __init__(self, started: list[str], cancelled: list[str], **options: Any) -> None:
        super().__init__(**options)
        self.started, self.cancelled = started, cancelled

    async def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
        self.started.append(self.name)
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(self.name)
            raise
        return []


@pytest.mark.parametrize("count", [1, 3])
@on_both_backends
async def test_cancelling_the_caller_cancels_every_component_task(count: int) -> None:
    started: list[str] = []
    cancelled: list[str] = []
    sources = [Waits(started, cancelled, name=f"w{i}", timeout_ms=10_000) for i in range(count)]
    pipeline = Pipeline("t", sources=sources)
    returned: list[Any] = []

    async def call() -> None:
        returned.append(await pipeline.execute(QUERY))

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        with anyio.fail_after(2):
            while len(started) < count:
                await anyio.sleep(0.001)
        group.cancel_scope.cancel()
    assert sorted(cancelled) == sorted(started) == [f"w{i}" for i in range(count)]
    assert returned == []


class AwaitsACancelledTask(Source[ToyQuery, ToyItem]):
    """Awaits a shared task that someone else cancels (say, a coalesced fetch)."""

    async def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
        shared = asyncio.ensure_future(asyncio.sleep(10))
        await asyncio.sleep(0)
        shared.cancel()
        await shared
        return []


@pytest.mark.parametrize("alone", [True, False])
async def test_cancellation_inside_a_component_is_its_failure_not_the_requests(
    make_fault: MakeFault, baseline: list, alone: bool
) -> None:
    others = [] if alone else [make_fault("source", "slow", name="other", delay_ms=5)]
    pipeline = toy_pipeline(sources=[AwaitsACancelledTask(timeout_ms=1000), *others])
    result = await pipeline.execute(QUERY)
    assert kinds(result) == [("AwaitsACancelledTask", "sources", "exception")]
    assert "CancelledError" in result.degradations[0].message
    assert served(result) == baseline


@on_both_backends
async def test_caller_timeout_cancels_a_component_that_has_no_timeout_of_its_own() -> None:
    started: list[str] = []
    cancelled: list[str] = []
    pipeline = Pipeline("t", sources=[Waits(started, cancelled, name="w")])
    with anyio.move_on_after(0.05) as scope:
        await pipeline.execute(QUERY)
    assert scope.cancelled_caught
    assert cancelled == ["w"]


# -- side effects -----------------------------------------------------------------------------


class SlowSideEffect(SideEffect[ToyQuery, ToyItem]):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.done = threading.Event()

    async def run(self, query: ToyQuery, result: Any) -> None:
        await anyio.sleep(0.5)
        self.done.set()


class RaisingSideEffect(SideEffect[ToyQuery, ToyItem]):
    def run(self, query: ToyQuery, result: Any) -> None:
        raise ConnectionError("cache unavailable")


@on_both_backends
async def test_slow_side_effect_does_not_delay_the_response_and_aclose_drains_it() -> None:
    side_effect = SlowSideEffect()
    pipeline = toy_pipeline(side_effects=[side_effect])
    start = time.perf_counter()
    result = await pipeline.execute(QUERY)
    assert time.perf_counter() - start < 0.4
    assert len(result.selected) == 5
    assert not side_effect.done.is_set()
    await pipeline.aclose()
    assert side_effect.done.is_set()


@on_both_backends
async def test_raising_side_effect_is_logged_never_raised(baseline: list) -> None:
    pipeline = toy_pipeline(side_effects=[RaisingSideEffect(name="cache_write")])
    with capture_logs() as logs:
        result = await pipeline.execute(QUERY)
        await pipeline.aclose()
    assert served(result) == baseline
    assert result.degradations == []
    [failure] = [e for e in logs if e["event"] == "side_effect_failed"]
    assert failure["component"] == "cache_write"
    assert "cache unavailable" in failure["error"]


@on_both_backends
async def test_hung_side_effect_with_a_timeout_is_logged_and_aclose_returns(
    make_fault: MakeFault,
) -> None:
    pipeline = toy_pipeline(side_effects=[make_fault("side_effect", "hang", timeout_ms=20)])
    with capture_logs() as logs:
        await pipeline.execute(QUERY)
        with anyio.fail_after(2):
            await pipeline.aclose()
    assert [e["kind"] for e in logs if e["event"] == "side_effect_failed"] == ["timeout"]


@on_both_backends
async def test_side_effect_whose_enable_raises_is_logged_not_raised() -> None:
    class Moody(SideEffect[ToyQuery, ToyItem]):
        def enable(self, query: ToyQuery) -> bool:
            raise RuntimeError("gate broke")

        def run(self, query: ToyQuery, result: Any) -> None:
            raise AssertionError("must not run")

    pipeline = toy_pipeline(side_effects=[Moody()])
    with capture_logs() as logs:
        await pipeline.execute(QUERY)
        await pipeline.aclose()
    assert any(e["event"] == "side_effect_failed" and e["component"] == "Moody" for e in logs)
