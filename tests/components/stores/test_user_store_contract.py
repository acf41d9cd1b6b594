"""One contract for the user store, run against both backends: SQLite (a file in tmp_path)
and Redis (a real redis-server started by tests/conftest.py). Whatever the For-You query
hydrators rely on -- answers, ordering, atomic batches, errors for bad input -- is here."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components.models import Engagement, SafetySettings
from components.stores.open import open_user_store

Opener = Callable[[], Any]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def opener(request: pytest.FixtureRequest, tmp_path) -> Opener:
    """Opens (or re-opens) the same store of the backend under test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'users.sqlite'}"
    else:
        url = request.getfixturevalue("redis_url")
    return lambda: open_user_store(url)


@pytest.fixture
def store(opener: Opener) -> Iterator[Any]:
    store = opener()
    yield store
    store.close()


def test_social_graph_round_trips(store):
    store.add_follows([(1, 2), (1, 3), (2, 1)])
    store.add_blocks([(1, 4), (5, 1)])
    store.add_mutes([(1, 6)])
    assert store.following(1) == {2, 3}
    assert store.blocked(1) == {4}
    assert store.blocked_by(1) == {5}
    assert store.muted(1) == {6}
    assert store.following(9) == frozenset()
    assert store.blocked_by(9) == frozenset()


def test_edges_are_a_set_and_removal_undoes_them_including_blocked_by(store):
    store.add_follows(iter([(1, 2), (1, 2), (1, 3)]))  # any iterable, read once
    store.add_blocks([(7, 1), (8, 1)])
    store.remove_follows([(1, 2), (1, 99)])  # removing a missing edge is no error
    store.remove_blocks([(7, 1)])
    store.add_mutes([(1, 5)])
    store.remove_mutes([(1, 5)])
    assert store.following(1) == {3}
    assert store.blocked(7) == frozenset()
    assert store.blocked_by(1) == {8}
    assert store.muted(1) == frozenset()


def test_keywords_sorted_and_removable_and_safety_overwritten(store):
    store.add_muted_keywords(1, ["spoilers", "Zebra", "éclair", "game of thrones"])
    store.add_muted_keywords(1, ["spoilers"])
    store.remove_muted_keywords(1, ["Zebra", "absent"])
    assert store.muted_keywords(1) == ("game of thrones", "spoilers", "éclair")
    assert store.muted_keywords(2) == ()
    store.set_safety(1, SafetySettings(frozenset({"violence"})))
    store.set_safety(1, SafetySettings(frozenset({"nsfw", "gore"})))
    assert store.safety(1) == SafetySettings(frozenset({"nsfw", "gore"}))
    assert store.safety(2) == SafetySettings()


def test_engagement_history_order_limit_before_and_every_field(store):
    store.record_engagements(
        1,
        [
            Engagement(10, 2, 100, ("favorite",)),
            Engagement(11, 2, 300, ("reply", "favorite"), 3, 4.5, False),
            Engagement(12, 3, 200, ()),
            Engagement(13, 3, 200, ("click",)),  # same time as 12: higher post id first
        ],
    )
    store.record_engagements(2, [Engagement(10, 2, 150, ("repost",))])
    history = store.engagement_history(1)
    assert [e.post_id for e in history] == [11, 13, 12, 10]
    assert history[0] == Engagement(11, 2, 300, ("favorite", "reply"), 3, 4.5, False)
    assert history[2] == Engagement(12, 3, 200, (), 0, 0.0, True)
    assert [e.post_id for e in store.engagement_history(1, limit=2)] == [11, 13]
    assert [e.post_id for e in store.engagement_history(1, before=200)] == [10]
    assert [e.post_id for e in store.engagement_history(1, before=200.5, limit=1)] == [13]
    assert store.engagement_history(1, limit=0) == []
    assert len(store.engagement_history(1, limit=-1)) == 4  # SQLite's LIMIT -1: no limit
    assert sorted(store.seen_post_ids(1)) == [10, 11, 12, 13]
    assert store.seen_post_ids(3) == []


def test_equal_engagements_are_both_kept_and_bulk_rows_load(store):
    same = Engagement(10, 2, 100, ("favorite",))
    store.record_engagements(1, [same, same])
    store.record_engagement_rows([(1, 20, 4, 50, 1, 0, 0.0, 1), (2, 21, 4, 60, 0, 1, 2.0, 0)])
    assert [e.post_id for e in store.engagement_history(1)] == [10, 10, 20]
    assert store.engagement_history(2) == [Engagement(21, 4, 60, (), 1, 2.0, False)]
    assert sorted(store.seen_post_ids(1)) == [10, 20]


def test_post_engagement_counts_every_impression_and_the_positive_ones(store):
    store.record_engagements(1, [Engagement(10, 2, 100, ("favorite", "dwell"))])
    store.record_engagements(2, [Engagement(10, 2, 101, ()), Engagement(11, 2, 102, ("dwell",))])
    store.record_engagement_rows([(3, 10, 2, 103, 1 << 13, 0, 0.0, 1)])  # follow_author
    store.record_engagements(4, [Engagement(12, 2, 104, ("report", "not_interested"))])
    assert store.post_engagement([10, 11, 12, 99]) == {
        10: (3, 2),  # favorite and follow_author count; the no-action impression does not
        11: (1, 0),  # dwell alone is not engaging
        12: (1, 0),  # nor are negative actions
        99: (0, 0),  # never recorded
    }
    assert store.post_engagement([]) == {}


def test_served_history_by_time_reserving_moves_it_and_clear_forgets_all(store):
    store.record_served(1, [10, 11], served_at=100.0, request_id="a")
    store.record_served(1, [12], served_at=200.0, request_id="b")
    store.record_served(2, [10], served_at=100.0)
    assert store.served_ids(1) == {10, 11, 12}
    assert store.served_ids(1, since=200.0) == {12}  # since is inclusive
    store.record_served(1, [10], served_at=300.0)  # served again: counts from now
    assert store.served_ids(1, since=150.0) == {10, 12}
    assert store.served_ids(3) == frozenset()
    store.clear_served()
    assert store.served_ids(1) == frozenset() and store.served_ids(2) == frozenset()
    store.record_served(1, [5], served_at=1.0)
    assert store.served_ids(1) == {5}


def test_meta_round_trips(store):
    assert store.get_meta("world") is None
    store.set_meta("world", "abc")
    store.set_meta("world", "def")
    assert store.get_meta("world") == "def"


def test_data_survives_reopening(opener):
    first = opener()
    first.add_follows([(1, 2)])
    first.record_served(1, [10], served_at=1.0)
    first.close()
    again = opener()
    assert again.following(1) == {2} and again.served_ids(1) == {10}
    again.verify()
    again.close()


def test_a_batch_with_an_unknown_action_raises_and_writes_nothing(store):
    batch = [Engagement(10, 2, 100, ("favorite",)), Engagement(11, 2, 101, ("likes",))]
    with pytest.raises(ValueError, match="unknown action 'likes'"):
        store.record_engagements(1, batch)
    assert store.engagement_history(1) == [] and store.seen_post_ids(1) == []
    assert store.post_engagement([10]) == {10: (0, 0)}


@pytest.mark.parametrize(
    ("edge", "error"), [(("x", 2), ValueError), ((1, 2**70), OverflowError)], ids=str
)
def test_bad_ids_raise_the_same_errors_and_write_nothing(store, edge, error):
    with pytest.raises(error):
        store.add_follows([(1, 3), edge])
    assert store.following(1) == frozenset()


def test_empty_batches_are_no_ops(store):
    store.add_follows([])
    store.remove_blocks([])
    store.add_muted_keywords(1, [])
    store.record_engagements(1, [])
    store.record_served(1, [], served_at=1.0)
    assert store.following(1) == frozenset() and store.served_ids(1) == frozenset()


def test_concurrent_writers_and_readers_lose_nothing(store):
    write_from_eight_threads(store)


def write_from_eight_threads(store: Any) -> None:
    """Eight threads write and read their own users at once; nothing written is lost.
    (Also run on SQLite's file by test_user_store.py, which then checks the file.)"""
    errors: list[BaseException] = []

    def writer(user: int) -> None:
        try:
            for batch in range(20):
                store.record_served(user, range(batch * 10, batch * 10 + 10), served_at=batch)
                store.served_ids(user)
                store.add_follows([(user, batch)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(u,)) for u in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(len(store.served_ids(u)) == 200 for u in range(8))
    assert all(store.following(u) == set(range(20)) for u in range(8))
