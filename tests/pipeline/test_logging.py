"""Structured logs: one event per stage with counts, durations and enabled/disabled
components, and the request id bound to every line."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import pytest

from pipeline import Filter, FilterResult, Pipeline
from pipeline.builtins import TopK
from pipeline.examples.toy import Catalog, Popularity, ToyItem, ToyQuery
from pipeline.logging import configure_logging
from pipeline.testing.faults import FaultSource


class NeverOn(Filter[ToyQuery, ToyItem]):
    def enable(self, query: ToyQuery) -> bool:
        return False

    def filter(self, query: ToyQuery, candidates: Sequence[ToyItem]) -> FilterResult:
        return FilterResult([], list(candidates))


async def test_json_logs_carry_the_request_id_and_one_event_per_stage() -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    pipeline = Pipeline(
        "logged",
        sources=[Catalog(n=5), FaultSource(mode="raise", name="flaky")],
        hydrators=[Popularity()],
        filters=[NeverOn()],
        selector=TopK(k=2),
    )
    await pipeline.execute(ToyQuery(1), request_id="req-7")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert events and all(e["request_id"] == "req-7" for e in events)
    stages = {e["stage"]: e for e in events if e["event"] == "stage_done"}
    assert set(stages) >= {"sources", "hydrators", "filters", "selector"}
    assert stages["sources"]["count"] == 5
    assert stages["sources"]["enabled"] == ["example.catalog", "flaky"]
    assert stages["filters"]["disabled"] == ["NeverOn"]
    assert stages["selector"]["count"] == 2
    assert all(isinstance(e["ms"], float) for e in stages.values())
    [degraded] = [e for e in events if e["event"] == "component_degraded"]
    assert (degraded["component"], degraded["kind"], degraded["level"]) == (
        "flaky",
        "exception",
        "warning",
    )
    [done] = [e for e in events if e["event"] == "request_done"]
    assert (done["retrieved"], done["selected"], done["degraded"]) == (5, 2, ["flaky"])


async def test_log_level_filters_per_stage_events() -> None:
    stream = io.StringIO()
    configure_logging("warning", "console", stream=stream)
    await Pipeline("quiet", sources=[Catalog(n=2)]).execute(ToyQuery(1))
    assert stream.getvalue() == ""


def test_unknown_log_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("chatty")
