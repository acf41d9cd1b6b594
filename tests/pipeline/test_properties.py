"""Property tests: whatever pattern of faults is injected into a pipeline of toy components,
the result comes back, it serves what the healthy pipeline serves, and the recorded
degradations are exactly the injected ones."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import Pipeline, RequiredComponentFailed
from pipeline.builtins import TopK
from pipeline.component import Component
from pipeline.examples.toy import (
    Affinity,
    Catalog,
    MaxAge,
    MutedTopic,
    Popularity,
    ToyQuery,
    UserProfile,
)
from pipeline.registry import get_component

# (stage list, fault component stage), in execution order; concurrent stages get two slots
SLOTS = [
    ("query_hydrators", "query_hydrator"),
    ("dependent_query_hydrators", "query_hydrator"),
    ("sources", "source"),
    ("sources", "source"),
    ("hydrators", "hydrator"),
    ("hydrators", "hydrator"),
    ("filters", "filter"),
    ("scorers", "scorer"),
    ("post_selection_hydrators", "hydrator"),
    ("post_selection_filters", "filter"),
    ("side_effects", "side_effect"),
]
STAGE_ORDER = list(dict.fromkeys(stage for stage, _ in SLOTS))
FAILING = {"raise": "exception", "hang": "timeout", "wrong_length": None, "wrong_type": None}

Fault = tuple[str, bool, bool]  # (mode, placed first in its stage, required)
faults = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(["raise", "hang", "wrong_length", "wrong_type", "slow"]),
        st.booleans(),
        st.booleans(),
    ),
)
patterns = st.lists(faults, min_size=len(SLOTS), max_size=len(SLOTS))


def expected_kind(fault_stage: str, mode: str) -> str:
    if mode in ("wrong_length", "wrong_type"):
        no_length_contract = fault_stage in ("query_hydrator", "source")
        return "wrong_type" if mode == "wrong_type" or no_length_contract else "wrong_length"
    return FAILING[mode]


def toy_stages() -> dict[str, list[Component]]:
    return {
        "query_hydrators": [UserProfile()],
        "dependent_query_hydrators": [],
        "sources": [Catalog(n=40, seed=11)],
        "hydrators": [Popularity()],
        "filters": [MutedTopic(), MaxAge(max_age_h=40)],
        "scorers": [Affinity()],
        "post_selection_hydrators": [],
        "post_selection_filters": [],
        "side_effects": [],
    }


def build(pattern: list[Fault | None], *, with_required: bool) -> tuple[Pipeline, list]:
    """The toy pipeline with the pattern's faults; returns it and the injected faults as
    (name, stage list, fault stage, mode, required)."""
    stages = toy_stages()
    injected = []
    for index, ((stage, fault_stage), fault) in enumerate(zip(SLOTS, pattern, strict=True)):
        if fault is None:
            continue
        mode, first, required = fault
        # a side effect cannot fail the request, so it cannot be required
        required = required and with_required and stage != "side_effects"
        name = f"fault{index}"
        component = get_component(f"fault.{fault_stage}")(
            mode=mode,
            delay_ms=1,
            name=name,
            timeout_ms=25 if mode == "hang" else None,
            required=required,
        )
        stages[stage].insert(0 if first else len(stages[stage]), component)
        injected.append((name, stage, fault_stage, mode, required))
    return Pipeline("chaos", selector=TopK(k=12), result_size=6, **stages), injected


def served(result: Any) -> list[tuple[int, float]]:
    return [(c.id, c.score) for c in result.selected]


async def healthy() -> list[tuple[int, float]]:
    pipeline, _ = build([None] * len(SLOTS), with_required=False)
    return served(await pipeline.execute(ToyQuery(user_id=8)))


@settings(max_examples=60, deadline=None)
@given(pattern=patterns)
async def test_any_fault_pattern_serves_the_healthy_answer_and_records_exactly_the_faults(
    pattern: list[Fault | None],
) -> None:
    pipeline, injected = build(pattern, with_required=False)
    async with pipeline:
        result = await pipeline.execute(ToyQuery(user_id=8))
    assert served(result) == await healthy()
    expected = Counter(
        (name, stage, expected_kind(fault_stage, mode))
        for name, stage, fault_stage, mode, _ in injected
        if mode in FAILING and stage != "side_effects"  # side effects only log
    )
    assert Counter((d.component, d.stage, d.kind) for d in result.degradations) == expected
    assert all(d.message for d in result.degradations)


@settings(max_examples=40, deadline=None)
@given(pattern=patterns)
async def test_request_fails_closed_exactly_when_a_required_component_fails(
    pattern: list[Fault | None],
) -> None:
    pipeline, injected = build(pattern, with_required=True)
    failing_required = [
        (STAGE_ORDER.index(stage), name)
        for name, stage, _, mode, required in injected
        if required and mode in FAILING and stage != "side_effects"
    ]
    try:
        async with pipeline:
            result = await pipeline.execute(ToyQuery(user_id=8))
    except RequiredComponentFailed as error:
        assert failing_required, f"raised for {error.component} though nothing required failed"
        first_stage = min(order for order, _ in failing_required)
        assert error.component in {n for order, n in failing_required if order == first_stage}
    else:
        assert not failing_required
        assert served(result) == await healthy()


@settings(max_examples=15, deadline=None)
@given(hung=st.sets(st.sampled_from(range(len(SLOTS) - 1)), min_size=1, max_size=3))
async def test_hung_components_without_timeouts_never_hold_the_request_past_its_deadline(
    hung: set[int],
) -> None:
    stages = toy_stages()
    for index in sorted(hung):
        stage, fault_stage = SLOTS[index]
        fault = get_component(f"fault.{fault_stage}")(mode="hang", name=f"hung{index}")
        stages[stage].append(fault)
    pipeline = Pipeline("hung", selector=TopK(k=12), deadline_ms=40, **stages)
    start = time.perf_counter()
    result = await pipeline.execute(ToyQuery(user_id=8))
    assert time.perf_counter() - start < 0.5
    first = f"hung{min(hung)}"
    assert (first, "deadline") in [(d.component, d.kind) for d in result.degradations]


@pytest.mark.parametrize("mode", ["raise", "hang", "wrong_length", "wrong_type"])
async def test_every_slot_failing_at_once_still_answers(mode: str) -> None:
    pattern: list[Fault | None] = [(mode, False, False)] * len(SLOTS)
    pipeline, injected = build(pattern, with_required=False)
    async with pipeline:
        result = await pipeline.execute(ToyQuery(user_id=8))
    assert served(result) == await healthy()
    assert len(injected) == len(SLOTS)
    assert len(result.degradations) == len(SLOTS) - 1  # all but the side effect
