"""Every time limit holds for plain ``def`` components, and side effects never hold anything."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from pipeline import Pipeline, Scorer, SideEffect, Source, executor
from pipeline.cli import _execute, app
from pipeline.component import Component
from pipeline.examples.toy import Catalog, ToyItem, ToyQuery
from pipeline.executor import DEFAULT_DEADLINE_MS, FILTER_GRACE_MS
from pipeline.threads import INLINE_AFTER, MAX_INLINE_BLOCKS, SyncRunner, ThreadSlots
from tests.pipeline.backends import on_both_backends
from tests.pipeline.test_degradation import QUERY, kinds, served, toy_pipeline

MakeFault = Callable[..., Component]
SLACK_S = 0.3  # scheduling slack on a loaded test machine


# -- blocking sync components under a deadline -------------------------------------------------


@pytest.mark.parametrize(
    ("fault_stage", "stage"),
    [
        ("source", "sources"),
        ("hydrator", "hydrators"),
        ("filter", "filters"),
        ("scorer", "scorers"),
        ("query_hydrator", "query_hydrators"),
    ],
)
@on_both_backends
async def test_blocking_sync_component_is_abandoned_at_the_deadline_and_named(
    make_fault: MakeFault, fault_stage: str, stage: str
) -> None:
    blocking = make_fault(fault_stage, "block_sync", name="stuck", delay_ms=1500)
    assert not blocking.is_async
    start = time.perf_counter()
    result = await toy_pipeline(**{stage: [blocking]}, deadline_ms=150).execute(QUERY)
    grace = FILTER_GRACE_MS / 1000 if stage == "filters" else 0.0
    assert time.perf_counter() - start < 0.15 + grace + SLACK_S
    assert ("stuck", stage, "deadline") in kinds(result)
    assert result.degradations[0].component == "stuck"  # blamed, not the ones after it


@on_both_backends
async def test_sync_scorer_past_its_timeout_is_cut_off_and_its_output_discarded() -> None:
    class SlowScorer(Scorer[ToyQuery, ToyItem]):
        writes = {"score"}

        def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list]:
            time.sleep(0.4)
            return {"score": [1000.0] * len(candidates)}

    baseline = served(await toy_pipeline().execute(QUERY))
    start = time.perf_counter()
    pipeline = toy_pipeline(scorers=[SlowScorer(name="slow", timeout_ms=50)], deadline_ms=2000)
    result = await pipeline.execute(QUERY)
    assert time.perf_counter() - start < 0.35
    assert kinds(result) == [("slow", "scorers", "timeout")]
    assert "50 ms" in result.degradations[0].message
    assert served(result) == baseline  # the late scores never landed
    await anyio.sleep(0.5)  # the abandoned thread finishes now; still nothing lands
    assert all(c.score != 1000.0 for c in result.selected)


@on_both_backends
async def test_output_that_arrives_after_the_budget_is_discarded_even_if_uninterruptible() -> None:
    class BlocksTheLoop(Scorer[ToyQuery, ToyItem]):
        """An ``async def`` that blocks: nothing can interrupt it, but its answer is late."""

        writes = {"score"}

        async def score(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> dict[str, list]:
            time.sleep(0.12)
            return {"score": [1000.0] * len(candidates)}

    result = await toy_pipeline(scorers=[BlocksTheLoop(name="late", timeout_ms=30)]).execute(QUERY)
    assert kinds(result) == [("late", "scorers", "timeout")]
    assert "answer was discarded" in result.degradations[0].message
    assert all(c.score != 1000.0 for c in result.selected)


@on_both_backends
async def test_request_without_a_deadline_gets_the_default_one(
    make_fault: MakeFault, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEFAULT_DEADLINE_MS == 5000
    monkeypatch.setattr(executor, "DEFAULT_DEADLINE_MS", 80.0)
    pipeline = toy_pipeline(sources=[make_fault("source", "hang", name="hung")])
    assert pipeline.deadline_ms is None
    start = time.perf_counter()
    result = await pipeline.execute(QUERY)
    assert time.perf_counter() - start < 0.08 + SLACK_S
    assert ("hung", "sources", "deadline") in kinds(result)


# -- threads per component -----------------------------------------------------------------------


def test_thread_slots_bound_live_threads_and_come_back() -> None:
    slots = ThreadSlots(2)
    assert slots.try_take() and slots.try_take()
    assert not slots.try_take()
    slots.give_back()
    assert slots.try_take()
    with pytest.raises(ValueError, match="at least one thread"):
        ThreadSlots(0)


@on_both_backends
async def test_hung_sync_component_holds_at_most_its_thread_limit_and_others_still_run() -> None:
    release = threading.Event()

    class Stuck(Source[ToyQuery, ToyItem]):
        max_threads = 2

        def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
            release.wait(5)
            return []

    stuck = Stuck(name="stuck", timeout_ms=30)
    pipeline = Pipeline("t", sources=[stuck, Catalog(n=3)])
    try:
        for _ in range(5):
            result = await pipeline.execute(QUERY)
            assert [c.id for c in result.selected] == [0, 1, 2]  # the other source still runs
            assert kinds(result) == [("stuck", "sources", "timeout")]
        assert stuck._sync.slots.busy == 2  # not 5: waiting calls never got a thread
    finally:
        release.set()
    with anyio.fail_after(2):
        while stuck._sync.slots.busy:
            await anyio.sleep(0.01)


@on_both_backends
async def test_fast_sync_component_earns_inline_and_a_blocked_call_sends_it_back() -> None:
    seen: list[str] = []
    block = [0.0]

    def work() -> str:
        time.sleep(block[0])
        seen.append(threading.current_thread().name)
        return "ok"

    runner = SyncRunner(threads=2, inline_max_ms=50)
    loop_thread = threading.current_thread().name
    for _ in range(INLINE_AFTER):
        assert not runner.inline
        assert await runner.call(work, ()) == "ok"
    assert loop_thread not in seen
    assert runner.inline
    await runner.call(work, ())
    assert seen[-1] == loop_thread
    block[0] = 0.6  # now it blocks: once inline (that is the price), then back to threads
    await runner.call(work, ())
    assert runner.blocks == 1 and not runner.inline
    block[0] = 0.0
    await runner.call(work, ())
    assert seen[-1] != loop_thread


def test_a_component_that_blocks_twice_inline_stays_in_threads() -> None:
    runner = SyncRunner(inline_max_ms=1)
    runner.fast_streak = 10**6
    runner.blocks = MAX_INLINE_BLOCKS
    assert not runner.inline
    assert not SyncRunner(inline_max_ms=0).inline


def test_run_in_thread_components_never_run_inline() -> None:
    class Heavy(Source[ToyQuery, ToyItem]):
        run_in_thread = True

        def get_candidates(self, query: ToyQuery) -> list[ToyItem]:
            return []

    heavy = Heavy()
    heavy._sync.fast_streak = 10**6
    assert not heavy._sync.inline


# -- side effects ------------------------------------------------------------------------------


class Hangs(SideEffect[ToyQuery, ToyItem]):
    async def run(self, query: ToyQuery, result: Any) -> None:
        await anyio.sleep_forever()


@on_both_backends
async def test_hanging_side_effect_delays_neither_execute_nor_more_than_its_limit_on_exit(
    make_fault: MakeFault,
) -> None:
    side_effects = [
        Hangs(name="hangs", timeout_ms=300),
        make_fault("side_effect", "block_sync", name="blocks", delay_ms=2000, timeout_ms=300),
    ]
    pipeline = toy_pipeline(side_effects=side_effects)
    with capture_logs() as logs:
        start = time.perf_counter()
        async with pipeline:
            result = await pipeline.execute(QUERY)
            answered = time.perf_counter() - start
        closed = time.perf_counter() - start
    assert len(result.selected) == 5
    assert answered < 0.25
    assert 0.25 < closed < 0.3 + SLACK_S
    failures = sorted(
        (e["component"], e["kind"]) for e in logs if e["event"] == "side_effect_failed"
    )
    assert failures == [("blocks", "timeout"), ("hangs", "timeout")]


@on_both_backends
async def test_side_effects_run_in_the_pipeline_group_while_it_is_entered() -> None:
    done = anyio.Event()

    class Marks(SideEffect[ToyQuery, ToyItem]):
        async def run(self, query: ToyQuery, result: Any) -> None:
            done.set()

    async with toy_pipeline(side_effects=[Marks()]) as pipeline:
        await pipeline.execute(QUERY)
        with anyio.fail_after(2):
            await done.wait()  # ran in the background, before the block ends


@on_both_backends
async def test_failed_request_inside_async_with_raises_its_own_error_not_a_group(
    make_fault: MakeFault,
) -> None:
    from pipeline import RequiredComponentFailed

    pipeline = toy_pipeline(sources=[make_fault("source", "raise", name="must", required=True)])
    with pytest.raises(RequiredComponentFailed, match="must"):
        async with pipeline:
            await pipeline.execute(QUERY)


@on_both_backends
async def test_entering_a_pipeline_twice_is_an_error() -> None:
    pipeline = toy_pipeline()
    async with pipeline:
        with pytest.raises(RuntimeError, match="already entered"):
            await pipeline.__aenter__()
        with pytest.raises(RuntimeError, match="leaving the block"):
            await pipeline.aclose()


@on_both_backends
async def test_cli_prints_the_result_before_it_waits_for_side_effects() -> None:
    pipeline = toy_pipeline(side_effects=[Hangs(name="hangs", timeout_ms=400)])
    shown: list[float] = []
    start = time.perf_counter()
    await _execute(pipeline, QUERY, lambda result: shown.append(time.perf_counter() - start))
    finished = time.perf_counter() - start
    assert len(shown) == 1 and shown[0] < 0.3
    assert 0.35 < finished < 0.4 + SLACK_S


def test_feedmixer_run_with_a_hanging_side_effect_prints_and_exits(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\nsources:\n  - use: example.catalog\n    params: {n: 3}\n"
        "side_effects:\n  - use: fault.side_effect\n    params: {mode: hang}\n"
        "    timeout_ms: 200\n",
        encoding="utf-8",
    )
    query = tmp_path / "q.json"
    query.write_text('{"user_id": 1}', encoding="utf-8")
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["run", str(recipe), "--query", str(query), "--json"])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 3
    assert [s["id"] for s in json.loads(result.stdout)["selected"]] == [0, 1, 2]


@pytest.mark.parametrize("deadline_ms", [math.inf, math.nan, -5.0])
async def test_a_deadline_that_bounds_nothing_is_rejected(deadline_ms: float) -> None:
    with pytest.raises(ValueError, match="deadline_ms must be a positive, finite number"):
        await toy_pipeline().execute(QUERY, deadline_ms=deadline_ms)


@on_both_backends
async def test_side_effects_of_a_pipeline_not_entered_wait_for_aclose_within_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(executor, "MAX_DEFERRED", 3)
    ran: list[str] = []

    class Records(SideEffect[ToyQuery, ToyItem]):
        async def run(self, query: ToyQuery, result: Any) -> None:
            ran.append(result.request_id)

    pipeline = toy_pipeline(side_effects=[Records()])
    with capture_logs() as logs:
        for i in range(5):
            await pipeline.execute(QUERY, request_id=f"r{i}")
        assert ran == []  # never while a caller waits for its response
        await pipeline.aclose()
    assert sorted(ran) == ["r2", "r3", "r4"]  # the oldest were dropped, and said so once
    assert [e["event"] for e in logs].count("side_effects_dropped") == 1
