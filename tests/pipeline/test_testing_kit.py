"""The testing kit: run_component with the stage contract enforced, and fault components."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest

from pipeline import (
    ContractViolation,
    Filter,
    FilterResult,
    Hydrator,
    Pipeline,
    QueryHydrator,
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
    Popularity,
    ToyItem,
    ToyQuery,
    UserProfile,
)
from pipeline.testing import InjectedFault, run_component

MakeFault = Callable[..., Component]


def items(*ages: float) -> list[ToyItem]:
    return [ToyItem(i, author=i, topic="jazz", age_h=age) for i, age in enumerate(ages)]


# -- each stage ---------------------------------------------------------------------------------


async def test_query_hydrator_returns_a_hydrated_copy_and_leaves_the_query_alone() -> None:
    query = ToyQuery(user_id=3)
    hydrated = await run_component(UserProfile(), query)
    assert hydrated.user_id == 3
    assert hydrated.followed is not None and len(hydrated.followed) == 5
    assert hydrated.muted_topics is not None
    assert query.followed is None and query.muted_topics is None


async def test_source_returns_its_candidates() -> None:
    candidates = await run_component(Catalog(n=7, first_id=100), ToyQuery(1))
    assert [c.id for c in candidates] == list(range(100, 107))
    assert all(isinstance(c, ToyItem) for c in candidates)


async def test_hydrator_returns_copies_with_the_declared_fields_applied() -> None:
    candidates = items(1, 2, 3)
    hydrated = await run_component(Popularity(), ToyQuery(1), candidates)
    assert [c.popularity for c in hydrated] == [0.0, 0.19, 0.38]
    assert all(c.popularity is None for c in candidates)


async def test_filter_returns_its_partition() -> None:
    result = await run_component(MaxAge(max_age_h=10), ToyQuery(1), items(1, 20, 5, 11))
    assert isinstance(result, FilterResult)
    assert [c.id for c in result.kept] == [0, 2]
    assert [c.id for c in result.removed] == [1, 3]


async def test_scorer_returns_scored_copies() -> None:
    candidates = items(0, 24)
    for candidate in candidates:
        candidate.popularity = 0.8
    query = ToyQuery(1, followed=frozenset({1}))
    scored = await run_component(Affinity(follow_boost=2.0, half_life_h=24), query, candidates)
    assert [c.score for c in scored] == pytest.approx([0.8, 0.8])  # 0.8*1*1 and 0.8*2*0.5
    assert all(c.score is None for c in candidates)


async def test_selector_returns_the_selected_candidates() -> None:
    candidates = items(1, 2, 3)
    for candidate, score in zip(candidates, [0.1, 0.9, 0.5], strict=True):
        candidate.score = score
    selected = await run_component(TopK(k=2), ToyQuery(1), candidates)
    assert [c.id for c in selected] == [1, 2]


async def test_side_effect_runs_on_the_given_result() -> None:
    class CountServed(SideEffect[ToyQuery, ToyItem]):
        def run(self, query: ToyQuery, result: Any) -> int:
            return len(result.selected)

    result = await Pipeline("t", sources=[Catalog(n=4)]).execute(ToyQuery(1))
    assert await run_component(CountServed(), ToyQuery(1), result=result) == 4


async def test_run_component_warms_up_with_resources_and_closes() -> None:
    calls: list[Any] = []

    class WithStore(Source[ToyQuery, ToyItem]):
        def warm_up(self, resources: Any) -> None:
            calls.append(resources["store"])

        async def close(self) -> None:
            calls.append("closed")

        def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
            return items(1)

    await run_component(WithStore(), ToyQuery(1), resources={"store": "db"})
    assert calls == ["db", "closed"]


async def test_single_candidate_failure_is_allowed_and_keeps_old_fields() -> None:
    class Partial(Hydrator[ToyQuery, ToyItem]):
        writes = {"popularity"}

        def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
            return [ValueError("missing") if c.id == 1 else {"popularity": 1.0} for c in candidates]

    out = await run_component(Partial(), ToyQuery(1), items(1, 2, 3))
    assert [c.popularity for c in out] == [1.0, None, 1.0]


# -- contract violations --------------------------------------------------------------------


class Short(Hydrator[ToyQuery, ToyItem]):
    writes = {"popularity"}

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
        return [{"popularity": 1.0}] * (len(candidates) - 1)


class Text(Scorer[ToyQuery, ToyItem]):
    writes = {"score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> Any:
        return "1.0"


class Strings(Scorer[ToyQuery, ToyItem]):
    writes = {"score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> Any:
        return ["1.0" for _ in candidates]


class Sneaky(Scorer[ToyQuery, ToyItem]):
    writes = {"score"}

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> Any:
        return [{"score": 1.0, "popularity": 1.0} for _ in candidates]


class InPlace(Hydrator[ToyQuery, ToyItem]):
    writes = {"popularity"}

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> Any:
        for candidate in candidates:
            candidate.popularity = 1.0
        return [{} for _ in candidates]


class MutatesQuery(QueryHydrator[ToyQuery, ToyItem]):
    writes = {"followed"}

    def hydrate(self, query: ToyQuery) -> Any:
        query.followed = frozenset({1})
        return query


class NotAPartition(Filter[ToyQuery, ToyItem]):
    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
        return FilterResult(kept=items(*[c.age_h for c in candidates]))  # new objects


class NotAFilterResult(Filter[ToyQuery, ToyItem]):
    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> Any:
        return list(candidates)


class Foreign(Selector[ToyQuery, ToyItem]):
    def select(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[ToyItem]:
        return items(1)


class Ids(Source[ToyQuery, ToyItem]):
    def get_candidates(self, query: ToyQuery) -> Any:
        return [1, 2, 3]


@pytest.mark.parametrize(
    ("component", "kind"),
    [
        (Short(), "wrong_length"),
        (Text(), "wrong_type"),
        (Strings(), "wrong_type"),
        (Sneaky(), "undeclared_write"),
        (InPlace(), "mutated_input"),
        (NotAPartition(), "not_its_input"),
        (NotAFilterResult(), "wrong_type"),
        (Foreign(), "not_its_input"),
        (Ids(), "wrong_type"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
async def test_contract_violation_is_raised_with_its_kind(component: Component, kind: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        await run_component(component, ToyQuery(1), items(1, 2, 3))
    assert (caught.value.component, caught.value.kind) == (component.name, kind)


async def test_writing_a_field_the_query_type_lacks_is_a_violation() -> None:
    class Bogus(QueryHydrator[ToyQuery, ToyItem]):
        writes = {"bogus"}

        def hydrate(self, query: ToyQuery) -> dict[str, Any]:
            return {"bogus": 1}

    with pytest.raises(ContractViolation, match="bogus"):
        await run_component(Bogus(), ToyQuery(1))


async def test_query_hydrator_mutating_the_query_in_place_is_a_violation() -> None:
    with pytest.raises(ContractViolation, match="in place") as caught:
        await run_component(MutatesQuery(), ToyQuery(1))
    assert caught.value.kind == "mutated_input"


# -- fault components ---------------------------------------------------------------------------

STAGES = ["query_hydrator", "source", "hydrator", "filter", "scorer"]


@pytest.mark.parametrize("stage", [*STAGES, "side_effect"])
async def test_fault_in_raise_mode_raises_injected_fault(make_fault: MakeFault, stage: str) -> None:
    with pytest.raises(InjectedFault, match="injected failure"):
        await run_component(make_fault(stage, "raise"), ToyQuery(1), items(1, 2))


@pytest.mark.parametrize("mode", ["wrong_length", "wrong_type"])
@pytest.mark.parametrize("stage", STAGES)
async def test_fault_answers_break_the_contract(
    make_fault: MakeFault, stage: str, mode: str
) -> None:
    with pytest.raises(ContractViolation):
        await run_component(make_fault(stage, mode), ToyQuery(1), items(1, 2))


@pytest.mark.parametrize("stage", [*STAGES, "side_effect"])
async def test_fault_in_slow_mode_waits_then_answers_correctly(
    make_fault: MakeFault, stage: str
) -> None:
    candidates = items(1, 2)
    start = anyio.current_time()
    out = await run_component(make_fault(stage, "slow", delay_ms=20), ToyQuery(1), candidates)
    assert anyio.current_time() - start >= 0.015
    if stage == "filter":
        assert [c.id for c in out.kept] == [0, 1]
    elif stage in ("hydrator", "scorer"):
        assert [c.id for c in out] == [0, 1]
    elif stage == "source":
        assert out == []


@pytest.mark.parametrize("stage", [*STAGES, "side_effect"])
async def test_fault_in_hang_mode_hangs_until_cancelled(make_fault: MakeFault, stage: str) -> None:
    with anyio.move_on_after(0.03) as scope:
        await run_component(make_fault(stage, "hang"), ToyQuery(1), items(1))
    assert scope.cancelled_caught


def test_make_fault_passes_component_options_through(make_fault: MakeFault) -> None:
    fault = make_fault("filter", "hang", timeout_ms=20, required=True, name="chaos")
    assert (fault.name, fault.timeout_ms, fault.required, fault.stage) == (
        "chaos",
        20,
        True,
        "filter",
    )
    assert fault.params.mode == "hang"


def test_fault_mode_is_validated(make_fault: MakeFault) -> None:
    with pytest.raises(ValueError, match="mode"):
        make_fault("filter", "explode")
