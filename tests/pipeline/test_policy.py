"""Failure policies: ``on_failure: skip | drop_all | fail`` on every stage kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline import (
    Filter,
    FilterResult,
    Hydrator,
    Partial,
    Pipeline,
    QueryHydrator,
    RecipeError,
    RequiredComponentFailed,
    Scorer,
    Selector,
    SideEffect,
    Source,
    load_recipe,
)
from pipeline.cli import app
from pipeline.component import Component
from pipeline.examples.toy import ToyItem, ToyQuery
from pipeline.executor import FILTER_GRACE_MS
from pipeline.testing import run_component
from tests.pipeline.backends import on_both_backends
from tests.pipeline.test_degradation import QUERY, kinds, served, toy_pipeline

MakeFault = Callable[..., Component]

CANDIDATE_SLOTS = [
    ("hydrator", "hydrators"),
    ("filter", "filters"),
    ("scorer", "scorers"),
    ("hydrator", "post_selection_hydrators"),
    ("filter", "post_selection_filters"),
]
QUERY_SLOTS = [
    ("query_hydrator", "query_hydrators"),
    ("query_hydrator", "dependent_query_hydrators"),
]


def removed_by(result: Any, name: str) -> list[Any]:
    return [r for r in result.removed if r.filter == name]


# -- drop_all -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["raise", "hang", "wrong_length", "wrong_type"])
@pytest.mark.parametrize(("fault_stage", "stage"), CANDIDATE_SLOTS)
@on_both_backends
async def test_drop_all_component_that_degrades_removes_every_candidate_at_that_point(
    make_fault: MakeFault, fault_stage: str, stage: str, mode: str
) -> None:
    fault = make_fault(fault_stage, mode, name="guard", timeout_ms=20, on_failure="drop_all")
    result = await toy_pipeline(**{stage: [fault]}).execute(QUERY)
    assert result.selected == []
    assert [(d.component, d.stage) for d in result.degradations] == [("guard", stage)]
    dropped = removed_by(result, "guard")
    assert dropped and {r.stage for r in dropped} == {stage}
    assert all("drop_all" in r.reason and result.degradations[0].kind in r.reason for r in dropped)
    # nothing that reached the component is left anywhere in the answer
    assert not {id(r.candidate) for r in dropped} & {id(c) for c in result.selected}


@pytest.mark.parametrize(("fault_stage", "stage"), QUERY_SLOTS)
@on_both_backends
async def test_drop_all_query_hydrator_removes_every_candidate_right_after_the_sources(
    make_fault: MakeFault, fault_stage: str, stage: str
) -> None:
    fault = make_fault(fault_stage, "raise", name="user_data", on_failure="drop_all")
    result = await toy_pipeline(**{stage: [fault]}).execute(QUERY)
    assert len(result.retrieved) == 60
    assert result.selected == [] and result.scored == []
    dropped = removed_by(result, "user_data")
    assert len(dropped) == 60
    assert {r.stage for r in dropped} == {stage}
    assert kinds(result)[0] == ("user_data", stage, "exception")
    assert "user_data" in result.explain(result.retrieved[0].id)


@pytest.mark.parametrize(("fault_stage", "stage"), CANDIDATE_SLOTS + QUERY_SLOTS)
@on_both_backends
async def test_drop_all_component_that_works_changes_nothing(
    make_fault: MakeFault, fault_stage: str, stage: str
) -> None:
    baseline = served(await toy_pipeline().execute(QUERY))
    fault = make_fault(fault_stage, "slow", delay_ms=1, name="ok", on_failure="drop_all")
    result = await toy_pipeline(**{stage: [fault]}).execute(QUERY)
    assert result.degradations == []
    assert served(result) == baseline


@on_both_backends
async def test_fault_injected_filter_with_drop_all_removes_everything_and_reports_it(
    make_fault: MakeFault,
) -> None:
    safety = make_fault("filter", "raise", name="safety", on_failure="drop_all")
    result = await toy_pipeline(filters=[safety]).execute(QUERY)
    assert result.selected == []
    assert kinds(result) == [("safety", "filters", "exception")]
    dropped = removed_by(result, "safety")
    assert dropped
    assert "InjectedFault" in dropped[0].reason
    assert "failed and drops all candidates" in result.explain(dropped[0].candidate.id)
    assert result.non_selected == []


@on_both_backends
async def test_drop_all_filter_that_cannot_finish_by_the_deadline_removes_everything(
    make_fault: MakeFault,
) -> None:
    hung = make_fault("hydrator", "hang", name="hung")
    slow = make_fault("filter", "slow", name="safety", delay_ms=2000, on_failure="drop_all")
    start = time.perf_counter()
    result = await toy_pipeline(hydrators=[hung], filters=[slow], deadline_ms=60).execute(QUERY)
    assert time.perf_counter() - start < 0.06 + FILTER_GRACE_MS / 1000 + 0.3
    assert ("safety", "filters", "deadline") in kinds(result)
    assert result.selected == []
    assert removed_by(result, "safety")


@on_both_backends
async def test_blocking_sync_drop_all_filter_under_a_deadline_removes_everything_in_time(
    make_fault: MakeFault,
) -> None:
    blocking = make_fault(
        "filter", "block_sync", name="safety", delay_ms=1000, on_failure="drop_all"
    )
    start = time.perf_counter()
    result = await toy_pipeline(filters=[blocking], deadline_ms=100).execute(QUERY)
    assert time.perf_counter() - start < 0.1 + FILTER_GRACE_MS / 1000 + 0.3
    assert ("safety", "filters", "deadline") in kinds(result)
    assert result.selected == []


class FailsForEvenIds(Hydrator[ToyQuery, ToyItem]):
    writes = {"tags"}

    def hydrate(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
        return [LookupError("no labels") if c.id % 2 == 0 else {"tags": ["ok"]} for c in candidates]


@on_both_backends
async def test_drop_all_hydrator_failing_for_single_candidates_drops_just_those() -> None:
    result = await toy_pipeline(hydrators=[FailsForEvenIds(on_failure="drop_all")]).execute(QUERY)
    dropped = removed_by(result, "FailsForEvenIds")
    assert dropped and all(r.candidate.id % 2 == 0 for r in dropped)
    assert len(dropped) == 30
    assert result.selected and all(c.id % 2 == 1 for c in result.selected)
    assert kinds(result) == [("FailsForEvenIds", "hydrators", "candidate_failed")]


@on_both_backends
async def test_skip_hydrator_failing_for_single_candidates_serves_them() -> None:
    result = await toy_pipeline(hydrators=[FailsForEvenIds()]).execute(QUERY)
    assert not removed_by(result, "FailsForEvenIds")
    assert any(c.id % 2 == 0 for c in result.selected)


class BrokenGate(Filter[ToyQuery, ToyItem]):
    def enable(self, query: ToyQuery) -> bool:
        raise RuntimeError("flag store down")

    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
        return FilterResult(list(candidates))


class BrokenSetup(Scorer[ToyQuery, ToyItem]):
    writes = {"score"}

    def warm_up(self, resources: object) -> None:
        raise ConnectionError("model missing")

    def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[Any]:
        return [{} for _ in candidates]


@pytest.mark.parametrize(
    ("stage", "component"),
    [
        ("filters", BrokenGate(name="gate", on_failure="drop_all")),
        ("scorers", BrokenSetup(name="gate", on_failure="drop_all")),
    ],
)
@on_both_backends
async def test_drop_all_component_whose_gate_or_warm_up_fails_drops_everything(
    stage: str, component: Component
) -> None:
    pipeline = toy_pipeline(**{stage: [component]})
    for _ in range(2):
        result = await pipeline.execute(QUERY)
        assert result.selected == []
        assert removed_by(result, "gate")


# -- fail and skip ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fault_stage", "stage"), [*CANDIDATE_SLOTS, *QUERY_SLOTS])
@on_both_backends
async def test_on_failure_fail_raises_like_required(
    make_fault: MakeFault, fault_stage: str, stage: str
) -> None:
    fault = make_fault(fault_stage, "raise", name="must_work", on_failure="fail")
    assert fault.required
    with pytest.raises(RequiredComponentFailed, match="must_work"):
        await toy_pipeline(**{stage: [fault]}).execute(QUERY)


@on_both_backends
async def test_on_failure_fail_on_a_source_and_a_selector_raise(make_fault: MakeFault) -> None:
    source = make_fault("source", "raise", name="must_fetch", on_failure="fail")
    with pytest.raises(RequiredComponentFailed, match="must_fetch"):
        await toy_pipeline(sources=[source]).execute(QUERY)

    class Broken(Selector[ToyQuery, ToyItem]):
        def select(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[ToyItem]:
            raise ValueError("boom")

    with pytest.raises(RequiredComponentFailed, match="Broken"):
        await toy_pipeline(selector=Broken(on_failure="fail")).execute(QUERY)


@pytest.mark.parametrize(("fault_stage", "stage"), [*CANDIDATE_SLOTS, *QUERY_SLOTS])
@on_both_backends
async def test_on_failure_skip_is_the_default_and_serves_without_the_component(
    make_fault: MakeFault, fault_stage: str, stage: str
) -> None:
    baseline = served(await toy_pipeline().execute(QUERY))
    fault = make_fault(fault_stage, "raise", name="optional")
    assert fault.on_failure == "skip"
    result = await toy_pipeline(**{stage: [fault]}).execute(QUERY)
    assert served(result) == baseline
    assert not removed_by(result, "optional")


# -- where each policy is allowed --------------------------------------------------------------


class NoSource(Source[ToyQuery, ToyItem]):
    def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
        return []


class NoSelector(Selector[ToyQuery, ToyItem]):
    def select(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> list[ToyItem]:
        return list(candidates)


class NoSideEffect(SideEffect[ToyQuery, ToyItem]):
    def run(self, query: ToyQuery, result: Any) -> None:
        return None


class NoQueryHydrator(QueryHydrator[ToyQuery, ToyItem]):
    def hydrate(self, query: ToyQuery) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize(
    ("cls", "options", "match"),
    [
        (NoSource, {"on_failure": "drop_all"}, "not allowed for a source; expected one of: skip"),
        (NoSelector, {"on_failure": "drop_all"}, "not allowed for a selector"),
        (NoSideEffect, {"on_failure": "fail"}, "side effect runs after the response"),
        (NoSideEffect, {"required": True}, "side effect runs after the response"),
        (NoQueryHydrator, {"on_failure": "skip", "required": True}, "contradicts"),
        (NoQueryHydrator, {"on_failure": "explode"}, "must be one of skip, drop_all, fail"),
    ],
)
def test_constructor_rejects_a_policy_its_stage_cannot_have(
    cls: type[Component], options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        cls(**options)


def test_required_true_and_on_failure_fail_agree() -> None:
    assert NoQueryHydrator(required=True).on_failure == "fail"
    assert NoQueryHydrator(required=True, on_failure="fail").required


# -- recipes -----------------------------------------------------------------------------------

RECIPE = """\
name: policies
sources:
  - use: example.catalog
    params: {{n: 20}}
{stage}:
  {entry}
"""


def write(tmp_path: Path, stage: str, entry: str) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(RECIPE.format(stage=stage, entry=entry), encoding="utf-8")
    return path


@on_both_backends
async def test_recipe_on_failure_drop_all_drops_what_a_broken_filter_could_not_clear(
    tmp_path: Path,
) -> None:
    entry = "- {use: fault.filter, name: safety, on_failure: drop_all, params: {mode: raise}}"
    pipeline = load_recipe(write(tmp_path, "filters", entry))
    assert pipeline.filters[0].on_failure == "drop_all"
    async with pipeline:
        result = await pipeline.execute(ToyQuery(1))
    assert result.selected == []
    assert len(removed_by(result, "safety")) == 20


@pytest.mark.parametrize(
    ("stage", "entry", "match"),
    [
        (
            "sources",
            "- {use: fault.source, on_failure: drop_all, params: {mode: raise}}",
            r"sources\.1\.on_failure: on_failure: drop_all is not allowed for a source; "
            "expected one of: skip, fail",
        ),
        (
            "side_effects",
            "- {use: fault.side_effect, on_failure: fail, params: {mode: raise}}",
            r"side_effects\.0\.on_failure: a side effect runs after the response",
        ),
        (
            "side_effects",
            "- {use: fault.side_effect, required: true, params: {mode: raise}}",
            r"side_effects\.0\.required: a side effect runs after the response",
        ),
        (
            "filters",
            "- {use: fault.filter, required: true, on_failure: drop_all, params: {mode: raise}}",
            r"filters\.0\.on_failure: `required: true` means `on_failure: fail`",
        ),
        (
            "filters",
            "- {use: fault.filter, on_failure: sometimes, params: {mode: raise}}",
            r"filters\.0\.on_failure: .*'skip', 'drop_all' or 'fail'",
        ),
    ],
)
def test_recipe_with_a_policy_its_stage_cannot_have_is_rejected(
    tmp_path: Path, stage: str, entry: str, match: str
) -> None:
    if stage == "sources":
        path = tmp_path / "policies.yaml"
        path.write_text(
            f"name: policies\nsources:\n  - use: example.catalog\n  {entry}\n", encoding="utf-8"
        )
    else:
        path = write(tmp_path, stage, entry)
    with pytest.raises(RecipeError, match=match):
        load_recipe(path)


def test_validate_warns_about_a_fail_component_without_a_time_bound(tmp_path: Path) -> None:
    entry = "- {use: fault.filter, name: strict, required: true, params: {mode: slow}}"
    path = write(tmp_path, "filters", entry)
    [warning] = load_recipe(path).warnings()
    assert "'strict'" in warning and "no time bound" in warning
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "strict" in result.stderr


@pytest.mark.parametrize("fix", ["timeout_ms", "deadline"])
def test_validate_does_not_warn_when_a_fail_component_is_bounded(tmp_path: Path, fix: str) -> None:
    timeout = ", timeout_ms: 50" if fix != "deadline" else ""
    entry = (
        f"- {{use: fault.filter, name: strict, required: true{timeout}, params: {{mode: slow}}}}"
    )
    path = write(tmp_path, "filters", entry)
    if fix == "deadline":
        path.write_text("deadline_ms: 300\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_recipe(path).warnings() == []


def test_pipeline_in_python_has_the_same_warnings() -> None:
    strict = NoQueryHydrator(name="strict", on_failure="fail")
    assert len(Pipeline("t", query_hydrators=[strict]).warnings()) == 1
    assert Pipeline("t", query_hydrators=[strict], deadline_ms=100).warnings() == []


# -- partial answers -----------------------------------------------------------------------------


class Truncated(Source[ToyQuery, ToyItem]):
    """Ran out of time part-way: serves what it has and says so."""

    def get_candidates(self, query: ToyQuery) -> Partial[list[ToyItem]]:
        return Partial([ToyItem(i, 0, "cats", 1.0) for i in (7, 8)], "scanned 2 of 10 authors")


@pytest.mark.parametrize("policy", ["skip", "fail"])
@on_both_backends
async def test_partial_answer_is_applied_and_reported_whatever_the_policy(policy: str) -> None:
    result = await Pipeline("t", sources=[Truncated(on_failure=policy)]).execute(QUERY)
    assert [c.id for c in result.retrieved] == [7, 8]
    assert kinds(result) == [("Truncated", "sources", "partial")]
    assert result.degradations[0].message == "scanned 2 of 10 authors"


async def test_testing_kit_checks_and_returns_the_value_of_a_partial_answer() -> None:
    assert [c.id for c in await run_component(Truncated(), ToyQuery(1))] == [7, 8]
