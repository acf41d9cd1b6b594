"""PipelineResult: what a request returns, and explain() for every path a candidate can take."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from pipeline import Filter, FilterResult, Pipeline, PipelineResult, Scorer, Source
from pipeline.builtins import TopK
from pipeline.examples.toy import ToyItem, ToyQuery, UserProfile


class Ids(Source[ToyQuery, ToyItem]):
    def __init__(self, item_ids: Sequence[int], delay_s: float = 0.0, **options: Any) -> None:
        super().__init__(**options)
        self.item_ids, self.delay_s = list(item_ids), delay_s

    async def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
        await anyio.sleep(self.delay_s)
        return [ToyItem(i, i % 4, "cats", 1.0) for i in self.item_ids]


class DropOdd(Filter[ToyQuery, ToyItem]):
    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult[ToyItem]:
        return FilterResult(
            [c for c in candidates if c.id % 2 == 0], [c for c in candidates if c.id % 2]
        )


class ScoreIsId(Scorer[ToyQuery, ToyItem]):
    writes = {"score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list]:
        return {"score": [float(c.id) for c in candidates]}


class Broken(Scorer[ToyQuery, ToyItem]):
    writes = {"popularity"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> Any:
        raise RuntimeError("model not loaded")


@pytest.fixture
async def result() -> PipelineResult:
    pipeline = Pipeline(
        "t",
        query_hydrators=[UserProfile()],
        sources=[Ids([1, 2, 3, 4], name="first"), Ids([6, 8, 10, 12], name="second")],
        filters=[DropOdd(name="odd")],
        scorers=[ScoreIsId(), Broken()],
        selector=TopK(k=3),
        result_size=2,
    )
    return await pipeline.execute(ToyQuery(3))


def test_result_holds_query_retrieved_selected_non_selected_removed_degradations(
    result: PipelineResult,
) -> None:
    assert result.query.user_id == 3 and result.query.followed is not None  # hydrated
    assert [c.id for c in result.retrieved] == [1, 2, 3, 4, 6, 8, 10, 12]
    assert [c.id for c in result.selected] == [12, 10]
    assert sorted(c.id for c in result.non_selected) == [2, 4, 6, 8]
    assert [(r.candidate.id, r.filter) for r in result.removed] == [(1, "odd"), (3, "odd")]
    assert [(d.component, d.stage, d.kind) for d in result.degradations] == [
        ("Broken", "scorers", "exception")
    ]
    assert "model not loaded" in result.degradations[0].message


def test_every_retrieved_candidate_is_served_non_selected_or_removed_exactly_once(
    result: PipelineResult,
) -> None:
    served = [c.id for c in result.selected]
    left_out = [c.id for c in result.non_selected]
    removed = [r.candidate.id for r in result.removed]
    assert sorted(served + left_out + removed) == sorted(c.id for c in result.retrieved)


def test_timings_cover_every_component_and_stage(result: PipelineResult) -> None:
    assert set(result.timings.components) == {
        "example.user_profile",
        "first",
        "second",
        "odd",
        "ScoreIsId",
        "Broken",
        "top_k",
    }
    assert {"query_hydrators", "sources", "filters", "scorers", "selector"} <= set(
        result.timings.stages
    )
    assert all(ms >= 0 for ms in result.timings.components.values())
    assert result.timings.total_ms >= max(result.timings.stages.values())


async def test_timings_attribute_time_to_the_slow_component_and_its_stage() -> None:
    pipeline = Pipeline("t", sources=[Ids([1], delay_s=0.05, name="slow"), Ids([2], name="fast")])
    result = await pipeline.execute(ToyQuery(1))
    assert result.timings.components["slow"] >= 45
    assert result.timings.components["fast"] < result.timings.components["slow"]
    assert result.timings.stages["sources"] >= 45
    assert result.timings.total_ms >= result.timings.stages["sources"]


def test_explain_a_served_candidate_gives_source_rank_and_scores(result: PipelineResult) -> None:
    text = result.explain(10)
    assert "retrieved by source 'second'" in text
    assert "served at rank 2 of 2" in text
    assert "score=10.0" in text


def test_explain_a_removed_candidate_names_the_filter(result: PipelineResult) -> None:
    text = result.explain(3)
    assert "retrieved by source 'first'" in text
    assert "removed by filter 'odd'" in text


def test_explain_a_non_selected_candidate_says_it_was_not_selected(
    result: PipelineResult,
) -> None:
    text = result.explain(8)  # cut by the result size
    assert "not selected" in text and "score=8.0" in text
    assert "not selected" in result.explain(2)  # cut by the selector's k


def test_explain_an_unknown_candidate_says_no_source_retrieved_it(
    result: PipelineResult,
) -> None:
    assert result.explain(999) == "999 was not retrieved by any source."
