"""Thunder under concurrency: requests scan side by side, a full store rejects at once, the
time budget starts when a request gets in, and a truncated answer is reported."""

from __future__ import annotations

import threading
import time

import pytest

import pipeline
from components.models import ForYouQuery, Post
from components.sources.thunder import ThunderSource
from components.thunder import store as store_module
from components.thunder.rwlock import ReadWriteLock
from components.thunder.store import ThunderAtCapacity, ThunderLimits, ThunderResult, ThunderStore
from pipeline import Pipeline

NOW = 1_000_000
SLOW_VIEWER = 666


def make_store(**limits) -> ThunderStore:
    store = ThunderStore(ThunderLimits(**limits), clock=lambda: NOW)
    store.insert([Post(i, 10 + i % 5, NOW - 100 + i) for i in range(1, 50)])
    return store


@pytest.fixture
def slow_scan(monkeypatch):
    """Requests of SLOW_VIEWER scan for as long as the test holds ``release``."""
    inside, release = threading.Event(), threading.Event()

    class SlowScan(store_module.Scan):
        def run(self, plan):
            if self.ask.viewer_id == SLOW_VIEWER:
                inside.set()
                release.wait(5)
            return super().run(plan)

    monkeypatch.setattr(store_module, "Scan", SlowScan)
    yield inside, release
    release.set()


def start_slow_request(store: ThunderStore, inside: threading.Event) -> threading.Thread:
    worker = threading.Thread(target=store.get_posts, args=(SLOW_VIEWER, range(10, 15)))
    worker.start()
    assert inside.wait(5)
    return worker


def test_a_request_does_not_wait_for_another_requests_scan(slow_scan):
    inside, release = slow_scan
    store = make_store(max_concurrent_requests=4)
    worker = start_slow_request(store, inside)

    start = time.perf_counter()
    result = store.get_posts(1, range(10, 15))
    elapsed = time.perf_counter() - start

    assert elapsed < 0.5, f"the second request waited {elapsed:.2f} s behind the first scan"
    assert len(result.posts) == 49 and not result.timed_out
    release.set()
    worker.join()


def test_a_full_store_rejects_within_milliseconds_while_a_scan_runs(slow_scan):
    inside, release = slow_scan
    store = make_store(max_concurrent_requests=1)
    worker = start_slow_request(store, inside)

    start = time.perf_counter()
    with pytest.raises(ThunderAtCapacity, match="at capacity"):
        store.get_posts(1, range(10, 15))
    assert time.perf_counter() - start < 0.05
    release.set()
    worker.join()


def test_the_time_budget_starts_when_the_request_gets_in():
    # 400 followed authors: a gather checks the budget after every 128 authors
    store = ThunderStore(ThunderLimits(request_budget_ms=150), clock=lambda: NOW)
    store.insert([Post(i, 1_000 + i, NOW - 10) for i in range(1, 401)])
    holding, done = threading.Event(), threading.Event()

    def writer():
        with store._lock.writing():  # a long ingestion batch
            holding.set()
            time.sleep(0.3)
        done.set()

    threading.Thread(target=writer).start()
    assert holding.wait(5)
    start = time.perf_counter()
    result = store.get_posts(1, range(1_001, 1_401), method="gather")

    assert time.perf_counter() - start >= 0.25  # it did wait for the writer ...
    assert not result.timed_out and len(result.posts) == 400  # ... and still had its budget
    assert done.wait(5)


def test_readers_share_and_a_waiting_writer_goes_before_new_readers():
    lock = ReadWriteLock()
    order: list[str] = []
    first_in, writer_waiting = threading.Event(), threading.Event()
    release_first = threading.Event()

    def first_reader():
        with lock.reading():
            first_in.set()
            release_first.wait(5)
            order.append("reader 1 out")

    def writer():
        writer_waiting.set()
        with lock.writing():
            order.append("writer")

    def late_reader():
        with lock.reading():
            order.append("reader 2")

    threads = [threading.Thread(target=first_reader)]
    threads[0].start()
    assert first_in.wait(5)
    with lock.reading():  # a second reader gets in beside the first
        order.append("shared")
    threads.append(threading.Thread(target=writer))
    threads[1].start()
    assert writer_waiting.wait(5)
    time.sleep(0.05)  # the writer is now blocked on the first reader
    threads.append(threading.Thread(target=late_reader))
    threads[2].start()
    time.sleep(0.05)
    release_first.set()
    for thread in threads:
        thread.join(5)
    assert order == ["shared", "reader 1 out", "writer", "reader 2"]


class TruncatingStore:
    """A Thunder whose budget always runs out after 2 of the followed authors."""

    limits = ThunderLimits()

    def get_posts(self, viewer_id, following, exclude_ids=(), *, videos=False, max_results=None):
        posts = [Post(7, 11, NOW - 5), Post(8, 12, NOW - 9)]
        return ThunderResult(
            posts, authors_scanned=2, authors_total=len(list(following)), timed_out=True
        )


async def test_a_truncated_thunder_answer_is_served_and_reported_as_a_degradation():
    feed = Pipeline(name="t", sources=[ThunderSource()], resources={"thunder": TruncatingStore()})
    query = ForYouQuery(user_id=1, request_time=NOW, following=frozenset(range(10, 20)))

    result = await feed.execute(query)

    assert [c.id for c in result.retrieved] == [7, 8]
    [degradation] = result.degradations
    assert degradation.component == "thunder"
    assert "after 2 of 10 followed authors" in degradation.message


def test_a_truncated_answer_comes_back_partial_with_the_coverage():
    source = ThunderSource()
    source.warm_up({"thunder": TruncatingStore()})
    query = ForYouQuery(user_id=1, request_time=NOW, following=frozenset(range(10, 20)))

    answer = source.get_candidates(query)

    assert isinstance(answer, pipeline.Partial)
    assert [c.id for c in answer.value] == [7, 8]
    assert "after 2 of 10 followed authors; 2 posts served" in answer.reason
