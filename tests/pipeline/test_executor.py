"""Pipeline.execute: the stage order and semantics of DESIGN.md's "pipeline contract"."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from pipeline import (
    Filter,
    FilterResult,
    Hydrator,
    Pipeline,
    QueryHydrator,
    Scorer,
    SideEffect,
    Source,
)
from pipeline.builtins import TopK
from pipeline.examples import toy
from pipeline.examples.toy import ToyItem, ToyQuery
from tests.pipeline.backends import on_both_backends


def item(i: int, **fields: Any) -> ToyItem:
    return ToyItem(id=i, author=i % 3, topic="cats", age_h=float(i), **fields)


def ids(candidates: Sequence[Any]) -> list[Any]:
    return [c.id for c in candidates]


class Rendezvous:
    """Every party waits until all have arrived: it completes only if they run concurrently."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.everyone_here = anyio.Event()

    async def meet(self) -> None:
        self.arrived += 1
        if self.arrived == self.parties:
            self.everyone_here.set()
        await self.everyone_here.wait()


class Items(Source[ToyQuery, ToyItem]):
    """Returns fresh items with the given ids, optionally after a delay (async)."""

    def __init__(self, item_ids: Sequence[int], delay_s: float = 0.0, **options: Any) -> None:
        super().__init__(**options)
        self.item_ids = list(item_ids)
        self.delay_s = delay_s

    async def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
        await anyio.sleep(self.delay_s)
        return [item(i) for i in self.item_ids]


class SyncItems(Source[ToyQuery, ToyItem]):
    """A plain ``def`` source."""

    def __init__(self, item_ids: Sequence[int], **options: Any) -> None:
        super().__init__(**options)
        self.item_ids = list(item_ids)

    def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
        return [item(i) for i in self.item_ids]


class MeetingSource(Source[ToyQuery, ToyItem]):
    def __init__(self, rendezvous: Rendezvous, item_ids: Sequence[int], **options: Any) -> None:
        super().__init__(timeout_ms=2000, **options)
        self.rendezvous = rendezvous
        self.item_ids = list(item_ids)

    async def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
        await self.rendezvous.meet()
        return [item(i) for i in self.item_ids]


class MeetingQueryHydrator(QueryHydrator[ToyQuery, ToyItem]):
    writes = {"followed"}

    def __init__(self, rendezvous: Rendezvous, **options: Any) -> None:
        super().__init__(timeout_ms=2000, **options)
        self.rendezvous = rendezvous

    async def hydrate(self, query: ToyQuery) -> dict[str, Any]:
        await self.rendezvous.meet()
        return {"followed": frozenset({1})}


class MeetingHydrator(Hydrator[ToyQuery, ToyItem]):
    """Writes ``value`` into ``field`` once every hydrator of the meeting has started."""

    def __init__(self, rendezvous: Rendezvous, field: str, value: Any, **options: Any) -> None:
        super().__init__(timeout_ms=2000, **options)
        self.rendezvous = rendezvous
        self.writes = frozenset({field})
        self.field, self.value = field, value

    async def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
        await self.rendezvous.meet()
        return [{self.field: self.value} for _ in candidates]


class Followed(QueryHydrator[ToyQuery, ToyItem]):
    writes = {"followed"}

    def hydrate(self, query: ToyQuery) -> dict[str, Any]:
        return {"followed": frozenset({1, 2})}


class MutesWhatItFollows(QueryHydrator[ToyQuery, ToyItem]):
    """A dependent hydrator: reads ``followed`` (written by the stage before it)."""

    reads = {"followed"}
    writes = {"muted_topics"}

    def hydrate(self, query: ToyQuery) -> dict[str, Any]:
        return {"muted_topics": frozenset(f"topic{a}" for a in query.followed or ())}


class Popularity(Hydrator[ToyQuery, ToyItem]):
    writes = {"popularity"}

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[dict[str, Any]]:
        return [{"popularity": c.id / 100} for c in candidates]


class SeesPopularity(Hydrator[ToyQuery, ToyItem]):
    """Records the popularity it saw into ``tags``."""

    writes = {"tags"}

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[dict[str, Any]]:
        return [{"tags": [repr(c.popularity)]} for c in candidates]


class DropIds(Filter[ToyQuery, ToyItem]):
    """Removes the given ids and remembers the ids it was shown."""

    def __init__(self, drop: Sequence[int], **options: Any) -> None:
        super().__init__(**options)
        self.drop = set(drop)
        self.seen: list[int] = []

    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult[ToyItem]:
        self.seen = ids(candidates)
        return FilterResult(
            [c for c in candidates if c.id not in self.drop],
            [c for c in candidates if c.id in self.drop],
        )


class ScoreIsId(Scorer[ToyQuery, ToyItem]):
    writes = {"score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list[float]]:
        return {"score": [float(c.id) for c in candidates]}


class TimesTen(Scorer[ToyQuery, ToyItem]):
    """Reads the score the previous scorer wrote."""

    reads = {"score"}
    writes = {"score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[dict[str, float]]:
        return [{"score": c.score * 10} for c in candidates]


class RecordIds(Hydrator[ToyQuery, ToyItem]):
    """Writes nothing; remembers the ids it was shown."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.seen: list[int] = []

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[dict[str, Any]]:
        self.seen = ids(candidates)
        return [{} for _ in candidates]


class Remember(SideEffect[ToyQuery, ToyItem]):
    """Waits for ``release`` (if given), then records the served ids."""

    def __init__(self, release: anyio.Event | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.release = release
        self.served: list[int] | None = None

    async def run(self, query: ToyQuery, result: Any) -> None:
        if self.release is not None:
            await self.release.wait()
        self.served = ids(result.selected)


@on_both_backends
async def test_query_hydrators_run_concurrently() -> None:
    meeting = Rendezvous(2)
    pipeline = Pipeline(
        "t",
        query_hydrators=[
            MeetingQueryHydrator(meeting, name="a"),
            MeetingQueryHydrator(meeting, name="b"),
        ],
    )
    result = await pipeline.execute(ToyQuery(1))
    assert result.degradations == []
    assert result.query.followed == frozenset({1})


@on_both_backends
async def test_dependent_query_hydrators_see_what_the_first_stage_wrote() -> None:
    pipeline = Pipeline(
        "t", query_hydrators=[Followed()], dependent_query_hydrators=[MutesWhatItFollows()]
    )
    result = await pipeline.execute(ToyQuery(7))
    assert result.query.followed == frozenset({1, 2})
    assert result.query.muted_topics == frozenset({"topic1", "topic2"})
    assert result.degradations == []


@on_both_backends
async def test_query_hydrators_of_one_stage_do_not_see_each_others_writes() -> None:
    pipeline = Pipeline("t", query_hydrators=[Followed(), MutesWhatItFollows()])
    result = await pipeline.execute(ToyQuery(7))
    assert result.query.followed == frozenset({1, 2})
    assert result.query.muted_topics == frozenset()  # it saw followed=None


@on_both_backends
async def test_execute_hydrates_a_copy_and_leaves_the_callers_query_alone() -> None:
    query = ToyQuery(7)
    result = await Pipeline("t", query_hydrators=[Followed()]).execute(query)
    assert query.followed is None
    assert result.query is not query
    assert result.query.followed == frozenset({1, 2})


@on_both_backends
async def test_sources_run_concurrently() -> None:
    meeting = Rendezvous(3)
    sources = [MeetingSource(meeting, [i], name=f"s{i}") for i in range(3)]
    result = await Pipeline("t", sources=sources).execute(ToyQuery(1))
    assert result.degradations == []
    assert ids(result.retrieved) == [0, 1, 2]


@on_both_backends
async def test_sources_are_concatenated_in_recipe_order_not_finishing_order() -> None:
    pipeline = Pipeline(
        "t",
        sources=[
            Items([1, 2], delay_s=0.05, name="slow"),
            SyncItems([3], name="sync"),
            Items([4, 5], name="fast"),
        ],
    )
    result = await pipeline.execute(ToyQuery(1))
    assert ids(result.retrieved) == [1, 2, 3, 4, 5]
    assert ids(result.selected) == [1, 2, 3, 4, 5]  # no selector: scorer order is served


@on_both_backends
async def test_hydrators_run_concurrently_over_the_same_candidates() -> None:
    meeting = Rendezvous(2)
    pipeline = Pipeline(
        "t",
        sources=[Items([1, 2, 3])],
        hydrators=[
            MeetingHydrator(meeting, "tags", ["x"], name="a"),
            MeetingHydrator(meeting, "popularity", 0.5, name="b"),
        ],
    )
    result = await pipeline.execute(ToyQuery(1))
    assert result.degradations == []
    assert [(c.tags, c.popularity) for c in result.selected] == [(["x"], 0.5)] * 3


@on_both_backends
async def test_hydrators_of_one_stage_do_not_see_each_others_writes() -> None:
    pipeline = Pipeline("t", sources=[Items([1, 2])], hydrators=[Popularity(), SeesPopularity()])
    result = await pipeline.execute(ToyQuery(1))
    assert [c.popularity for c in result.selected] == [0.01, 0.02]
    assert [c.tags for c in result.selected] == [["None"], ["None"]]


@on_both_backends
async def test_post_selection_hydrators_see_the_hydrators_writes() -> None:
    pipeline = Pipeline(
        "t",
        sources=[Items([1, 2])],
        hydrators=[Popularity()],
        post_selection_hydrators=[SeesPopularity()],
    )
    result = await pipeline.execute(ToyQuery(1))
    assert [c.tags for c in result.selected] == [["0.01"], ["0.02"]]


@on_both_backends
async def test_filters_run_in_order_and_record_which_filter_removed_each_candidate() -> None:
    odd = DropIds([1, 3, 5], name="odd")
    two = DropIds([2], name="two")
    pipeline = Pipeline("t", sources=[Items(range(1, 7))], filters=[odd, two])
    result = await pipeline.execute(ToyQuery(1))
    assert two.seen == [2, 4, 6]  # the second filter only sees what the first kept
    assert ids(result.selected) == [4, 6]
    assert [(r.candidate.id, r.filter, r.stage) for r in result.removed] == [
        (1, "odd", "filters"),
        (3, "odd", "filters"),
        (5, "odd", "filters"),
        (2, "two", "filters"),
    ]


@on_both_backends
async def test_scorers_run_in_order_and_each_sees_the_previous_scores() -> None:
    pipeline = Pipeline("t", sources=[Items([1, 2, 3])], scorers=[ScoreIsId(), TimesTen()])
    result = await pipeline.execute(ToyQuery(1))
    assert [c.score for c in result.selected] == [10.0, 20.0, 30.0]
    assert result.degradations == []


@on_both_backends
async def test_selector_keeps_the_top_k_by_score_and_the_rest_are_non_selected() -> None:
    pipeline = Pipeline(
        "t", sources=[Items([3, 1, 4, 5, 2])], scorers=[ScoreIsId()], selector=TopK(k=3)
    )
    result = await pipeline.execute(ToyQuery(1))
    assert ids(result.selected) == [5, 4, 3]
    assert sorted(ids(result.non_selected)) == [1, 2]


@on_both_backends
async def test_top_k_sorts_candidates_without_a_score_last() -> None:
    class ScoreSome(Scorer[ToyQuery, ToyItem]):
        writes = {"score"}

        def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
            return [{"score": float(c.id)} if c.id != 9 else {} for c in candidates]

    pipeline = Pipeline("t", sources=[Items([9, 1, 2])], scorers=[ScoreSome()], selector=TopK(k=3))
    result = await pipeline.execute(ToyQuery(1))
    assert ids(result.selected) == [2, 1, 9]


@on_both_backends
async def test_post_selection_stages_run_on_the_selected_candidates_only() -> None:
    seen = RecordIds()
    post_filter = DropIds([4], name="post")
    pipeline = Pipeline(
        "t",
        sources=[Items(range(1, 7))],
        scorers=[ScoreIsId()],
        selector=TopK(k=3),
        post_selection_hydrators=[seen],
        post_selection_filters=[post_filter],
    )
    result = await pipeline.execute(ToyQuery(1))
    assert seen.seen == [6, 5, 4]
    assert post_filter.seen == [6, 5, 4]
    assert ids(result.selected) == [6, 5]
    assert [(r.candidate.id, r.filter, r.stage) for r in result.removed] == [
        (4, "post", "post_selection_filters")
    ]
    assert sorted(ids(result.non_selected)) == [1, 2, 3]  # not the post-filtered 4


@on_both_backends
async def test_result_size_truncates_after_post_selection_and_the_rest_is_non_selected() -> None:
    pipeline = Pipeline(
        "t",
        sources=[Items(range(1, 7))],
        scorers=[ScoreIsId()],
        selector=TopK(k=5),
        post_selection_filters=[DropIds([5], name="post")],
        result_size=2,
    )
    result = await pipeline.execute(ToyQuery(1))
    assert ids(result.selected) == [6, 4]
    assert sorted(ids(result.non_selected)) == [1, 2, 3]


@on_both_backends
async def test_side_effects_run_after_the_response_and_see_it() -> None:
    release = anyio.Event()
    side_effect = Remember(release)
    pipeline = Pipeline(
        "t", sources=[Items([1, 2])], scorers=[ScoreIsId()], side_effects=[side_effect]
    )
    result = await pipeline.execute(ToyQuery(1))
    assert side_effect.served is None  # execute returned while the side effect waits
    release.set()
    await pipeline.aclose()
    assert side_effect.served == ids(result.selected) == [1, 2]


@on_both_backends
async def test_side_effect_disabled_in_the_recipe_does_not_run() -> None:
    side_effect = Remember(enabled=False)
    pipeline = Pipeline("t", sources=[Items([1])], side_effects=[side_effect])
    await pipeline.execute(ToyQuery(1))
    await pipeline.aclose()
    assert side_effect.served is None


@on_both_backends
async def test_components_disabled_by_enable_or_by_the_recipe_are_skipped_not_degraded() -> None:
    class OnlyForUser1(Filter[ToyQuery, ToyItem]):
        def enable(self, query: ToyQuery) -> bool:
            return query.user_id == 1

        def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
            return FilterResult([], list(candidates))

    pipeline = Pipeline(
        "t",
        sources=[Items([1, 2])],
        filters=[OnlyForUser1(), DropIds([1], name="off", enabled=False)],
    )
    result = await pipeline.execute(ToyQuery(2))
    assert ids(result.selected) == [1, 2]
    assert result.degradations == []
    assert "off" not in result.timings.components
    result = await pipeline.execute(ToyQuery(1))
    assert ids(result.selected) == []


@on_both_backends
async def test_sync_component_can_run_in_a_worker_thread() -> None:
    import threading

    class InThread(Hydrator[ToyQuery, ToyItem]):
        run_in_thread = True
        writes = {"tags"}

        def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
            return [{"tags": [threading.current_thread().name]} for _ in candidates]

    result = await Pipeline("t", sources=[Items([1])], hydrators=[InThread()]).execute(ToyQuery(1))
    assert result.selected[0].tags != [threading.current_thread().name]


@on_both_backends
async def test_warm_up_runs_once_with_the_pipelines_resources_and_close_on_aclose() -> None:
    calls: list[Any] = []

    class Stateful(Source[ToyQuery, ToyItem]):
        async def warm_up(self, resources: Any) -> None:
            calls.append(("warm_up", dict(resources)))

        def close(self) -> None:
            calls.append(("close", None))

        def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
            return [item(1)]

    pipeline = Pipeline("t", sources=[Stateful()], resources={"store": "s"})
    async with pipeline:
        await pipeline.execute(ToyQuery(1))
        await pipeline.execute(ToyQuery(2))
    assert calls == [("warm_up", {"store": "s"}), ("close", None)]


def test_needs_is_every_resource_its_components_declare() -> None:
    class Store(Source[ToyQuery, ToyItem]):
        needs = {"store"}

        def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
            return []

    class Index(Source[ToyQuery, ToyItem]):
        needs = {"index", "store"}

        def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
            return []

    assert Pipeline("t", sources=[Store(), Index()]).needs == {"store", "index"}
    assert Pipeline("t").needs == frozenset()


@on_both_backends
async def test_request_id_is_kept_on_the_result() -> None:
    result = await Pipeline("t").execute(ToyQuery(1), request_id="req-1")
    assert result.request_id == "req-1"
    other = await Pipeline("t").execute(ToyQuery(1))
    assert other.request_id and other.request_id != "req-1"


@pytest.mark.parametrize("shape", ["rows", "columns", "candidates"])
@on_both_backends
async def test_hydrator_output_shapes_all_apply_the_declared_fields(shape: str) -> None:
    class Shaped(Hydrator[ToyQuery, ToyItem]):
        writes = {"popularity"}

        def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> Any:
            values = [c.id / 10 for c in candidates]
            if shape == "rows":
                return [{"popularity": v} for v in values]
            if shape == "columns":
                return {"popularity": values}
            return [
                dataclasses.replace(c, popularity=v)
                for c, v in zip(candidates, values, strict=True)
            ]

    result = await Pipeline("t", sources=[Items([1, 2])], hydrators=[Shaped()]).execute(ToyQuery(1))
    assert [c.popularity for c in result.selected] == [0.1, 0.2]
    assert result.degradations == []


@on_both_backends
async def test_concurrent_requests_on_one_pipeline_are_independent() -> None:
    pipeline = Pipeline(
        "t",
        query_hydrators=[toy.UserProfile()],
        sources=[toy.Catalog(n=50), Items([1000], delay_s=0.01, name="slow")],
        hydrators=[toy.Popularity()],
        filters=[toy.MutedTopic()],
        scorers=[toy.Affinity()],
        selector=TopK(k=5),
    )
    users = list(range(20))
    sequential = {u: ids((await pipeline.execute(ToyQuery(u))).selected) for u in users}
    concurrent: dict[int, list[int]] = {}

    async def one(user: int) -> None:
        concurrent[user] = ids((await pipeline.execute(ToyQuery(user))).selected)

    async with anyio.create_task_group() as group:
        for user in users:
            group.start_soon(one, user)
    assert concurrent == sequential
    assert len({tuple(v) for v in sequential.values()}) > 1  # users really differ
