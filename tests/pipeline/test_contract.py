"""The shared output checks: identity for filters and selectors, finite values for scorers."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from pipeline import ContractViolation, Filter, FilterResult, Scorer, Selector
from pipeline.contract import check_filter_result, check_output, check_partition, check_selection
from pipeline.examples.toy import ToyItem, ToyQuery
from pipeline.testing import run_component
from tests.pipeline.backends import on_both_backends
from tests.pipeline.test_degradation import QUERY, kinds, served, toy_pipeline


def items(*ids: int) -> list[ToyItem]:
    return [ToyItem(i, i % 3, "cats", 1.0) for i in ids]


# -- filters: kept + removed is a partition of the very objects given ------------------------


class Copies(Filter[ToyQuery, ToyItem]):
    """Keeps look-alike copies instead of the candidates it was given."""

    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
        return FilterResult([dataclasses.replace(c) for c in candidates])


class AddsTwoCopiesOfANewOne(Filter[ToyQuery, ToyItem]):
    """The issue's attack: keeps two copies of a new candidate, same total count."""

    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
        intruder = ToyItem(9999, 0, "cats", 0.0, popularity=1.0, score=1e9)
        return FilterResult([*candidates[:-2], intruder, intruder])


class KeepsOneTwice(Filter[ToyQuery, ToyItem]):
    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
        return FilterResult([candidates[0], *candidates[:-1]])


class KeepsAndRemovesTheSameOne(Filter[ToyQuery, ToyItem]):
    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
        return FilterResult(list(candidates[1:]), [candidates[1]])


class Reorders(Filter[ToyQuery, ToyItem]):
    """Legal: a partition may come in any order."""

    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
        kept = [c for c in candidates if c.id % 2][::-1]
        return FilterResult(kept, [c for c in candidates if not c.id % 2])


BAD_FILTERS = [Copies(), AddsTwoCopiesOfANewOne(), KeepsOneTwice(), KeepsAndRemovesTheSameOne()]


@pytest.mark.parametrize("bad", BAD_FILTERS, ids=lambda c: type(c).__name__)
@on_both_backends
async def test_filter_that_returns_candidates_it_was_not_given_degrades_and_changes_nothing(
    bad: Filter,
) -> None:
    baseline = served(await toy_pipeline().execute(QUERY))
    result = await toy_pipeline(filters=[bad]).execute(QUERY)
    assert kinds(result) == [(bad.name, "filters", "not_its_input")]
    assert served(result) == baseline
    assert 9999 not in {c.id for c in result.selected}


@pytest.mark.parametrize("bad", BAD_FILTERS, ids=lambda c: type(c).__name__)
async def test_testing_kit_raises_on_the_same_filters(bad: Filter) -> None:
    with pytest.raises(ContractViolation, match="not_its_input"):
        await run_component(bad, ToyQuery(1), items(1, 2, 3, 4))


async def test_a_reordered_partition_is_fine() -> None:
    out = await run_component(Reorders(), ToyQuery(1), items(1, 2, 3, 4))
    assert [c.id for c in out.kept] == [3, 1]


@pytest.mark.parametrize(
    ("kept", "removed", "match"),
    [
        (lambda c: [*c[:3], ToyItem(7, 0, "x", 0)], lambda c: [], "1 candidates it was not given"),
        (lambda c: [c[0], c[0], c[1], c[2]], lambda c: [], "1 repeated candidates"),
        (lambda c: c[:3], lambda c: [c[2]], "1 repeated candidates and 1 input candidates left"),
    ],
)
def test_partition_check_says_what_is_wrong(kept: Any, removed: Any, match: str) -> None:
    candidates = items(1, 2, 3, 4)
    value = FilterResult(kept(candidates), removed(candidates))
    degradation = check_filter_result(Copies(), "filters", value, candidates)
    assert degradation is not None and degradation.kind == "not_its_input"
    assert match in degradation.message


def test_partition_check_hands_back_the_kept_ids_for_the_next_filter() -> None:
    candidates = items(1, 2, 3, 4)
    value = FilterResult(candidates[:2], candidates[2:])
    degradation, kept_ids = check_partition(Copies(), "filters", value, candidates)
    assert degradation is None and kept_ids == {id(c) for c in candidates[:2]}
    # the next filter gets candidates[:2]; the ids carried over must agree with them
    value = FilterResult(candidates[:1], candidates[1:2])
    assert check_partition(Copies(), "filters", value, candidates[:2], kept_ids)[0] is None


def test_input_holding_one_object_twice_may_be_partitioned_as_it_is() -> None:
    one, two = items(1, 2)
    value = FilterResult([one, one], [two])
    assert check_filter_result(Copies(), "filters", value, [one, two, one]) is None


# -- selectors: a subset of the input, each at most once ------------------------------------------


class AddsOne(Selector[ToyQuery, ToyItem]):
    def select(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[ToyItem]:
        return [ToyItem(9999, 0, "cats", 0.0, score=1e9), *candidates]


class Repeats(Selector[ToyQuery, ToyItem]):
    def select(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[ToyItem]:
        return [candidates[0]] * 3


@pytest.mark.parametrize("bad", [AddsOne(), Repeats()], ids=lambda c: type(c).__name__)
@on_both_backends
async def test_selector_that_adds_or_repeats_a_candidate_degrades(bad: Selector) -> None:
    result = await toy_pipeline(selector=bad).execute(QUERY)
    assert kinds(result) == [(bad.name, "selector", "not_its_input")]
    ids = [c.id for c in result.selected]
    assert 9999 not in ids and len(ids) == len(set(ids))


@pytest.mark.parametrize("bad", [AddsOne(), Repeats()], ids=lambda c: type(c).__name__)
async def test_testing_kit_raises_on_the_same_selectors(bad: Selector) -> None:
    with pytest.raises(ContractViolation, match="not_its_input"):
        await run_component(bad, ToyQuery(1), items(1, 2, 3))


def test_selection_check_accepts_any_subset_in_any_order() -> None:
    candidates = items(1, 2, 3)
    assert check_selection(AddsOne(), "selector", candidates[::-1][:2], candidates) is None


# -- scorers: finite values only -----------------------------------------------------------------


class Bad(Scorer[ToyQuery, ToyItem]):
    """Scores from ``values`` (cycled), in the shape ``shape``."""

    writes = {"score"}

    def __init__(self, values: list[Any], shape: str, **options: Any) -> None:
        super().__init__(**options)
        self.values, self.shape = values, shape

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> Any:
        column = [self.values[i % len(self.values)] for i in range(len(candidates))]
        if self.shape == "rows":
            return [{"score": v} for v in column]
        if self.shape == "numpy":
            return {"score": np.array(column, dtype=np.float32)}
        return {"score": column}


@pytest.mark.parametrize("shape", ["columns", "rows", "numpy"])
@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
@on_both_backends
async def test_scorer_returning_nan_or_inf_degrades_and_none_of_its_scores_apply(
    shape: str, bad_value: float
) -> None:
    baseline = served(await toy_pipeline().execute(QUERY))
    scorer = Bad([0.5, bad_value, 0.25], shape, name="garbage")
    result = await toy_pipeline(scorers=[*toy_pipeline().scorers, scorer]).execute(QUERY)
    assert kinds(result) == [("garbage", "scorers", "non_finite")]
    assert "of 'score' are NaN or ±Inf" in result.degradations[0].message
    assert served(result) == baseline
    assert all(math.isfinite(c.score) for c in result.scored)


def test_non_finite_check_counts_the_bad_values() -> None:
    scorer = Bad([], "columns", name="garbage")
    value = {"score": [1.0, math.nan, 2.0, math.inf, None]}
    degradation = check_output(scorer, "scorers", value, 5, ToyItem)
    assert degradation is not None and degradation.message.startswith("2 of 5 values")


def test_finite_scores_of_any_shape_pass_and_tuples_of_probabilities_are_checked() -> None:
    scorer = Bad([], "columns", name="s")
    assert check_output(scorer, "scorers", {"score": [1, 2.5, None]}, 3, ToyItem) is None
    assert check_output(scorer, "scorers", {"score": np.zeros(3)}, 3, ToyItem) is None
    nested = {"score": [(0.1, 0.2), (0.3, math.nan)]}
    degradation = check_output(scorer, "scorers", nested, 2, ToyItem)
    assert degradation is not None and degradation.message.startswith("1 of 2 values")


async def test_testing_kit_raises_on_a_nan_scorer() -> None:
    with pytest.raises(ContractViolation, match="non_finite"):
        await run_component(Bad([math.nan], "columns"), ToyQuery(1), items(1, 2))
