from types import SimpleNamespace

from structlog.testing import capture_logs

from components.side_effects.record_served import RecordServed
from components.side_effects.served_log import ServedFeedLog
from components.stores.user_store import UserStore
from pipeline.testing import run_component


def result_with(query, selected):
    """The parts of a PipelineResult the side effects read."""
    return SimpleNamespace(
        request_id="r1",
        query=query,
        retrieved=list(selected),
        selected=list(selected),
        removed=[],
        degradations=[],
        timings=SimpleNamespace(total_ms=1.0),
    )


async def test_record_served_writes_the_served_ids(make_query, make_candidate):
    store = UserStore(":memory:")
    query = make_query()
    result = result_with(query, [make_candidate(1), make_candidate(2)])
    await run_component(RecordServed(), query, result=result, resources={"user_store": store})
    assert store.served_ids(1) == {1, 2}


async def test_served_feed_log_emits_one_structured_line(make_query, make_candidate):
    query = make_query()
    result = result_with(query, [make_candidate(1, in_network=True), make_candidate(2)])
    with capture_logs() as logs:
        await run_component(ServedFeedLog(), query, result=result)
    (line,) = [entry for entry in logs if entry["event"] == "served_feed"]
    assert (line["user_id"], line["served"], line["in_network"]) == (1, [1, 2], 1)
