import sqlite3
import threading

import pytest

from components.models import Engagement, SafetySettings
from components.stores.user_store import UserStore, actions_to_mask, mask_to_actions


@pytest.fixture
def store(tmp_path):
    store = UserStore(tmp_path / "users.sqlite")
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


def test_adding_an_edge_twice_keeps_one(store):
    store.add_follows([(1, 2)])
    store.add_follows([(1, 2)])
    assert store.following(1) == {2}


def test_keywords_and_safety_settings_round_trip(store):
    store.add_muted_keywords(1, ["spoilers", "game of thrones"])
    store.set_safety(1, SafetySettings(frozenset({"violence"})))
    assert store.muted_keywords(1) == ("game of thrones", "spoilers")
    assert store.safety(1).allowed_labels == {"violence"}
    assert store.safety(2) == SafetySettings()


def test_engagement_history_is_newest_first_and_respects_limit_and_time(store):
    store.record_engagements(
        1,
        [
            Engagement(10, 2, 100, ("favorite",)),
            Engagement(11, 2, 300, ("reply", "favorite"), dwell_time_s=4.0),
            Engagement(12, 3, 200, ()),
        ],
    )
    history = store.engagement_history(1)
    assert [e.post_id for e in history] == [11, 12, 10]
    assert set(history[0].actions) == {"reply", "favorite"}
    assert [e.post_id for e in store.engagement_history(1, limit=1)] == [11]
    assert [e.post_id for e in store.engagement_history(1, before=250)] == [12, 10]
    assert sorted(store.seen_post_ids(1)) == [10, 11, 12]


def test_action_masks_round_trip_and_reject_unknown_actions():
    assert mask_to_actions(actions_to_mask(["favorite", "report"])) == ("favorite", "report")
    with pytest.raises(ValueError, match="unknown action 'likes'"):
        actions_to_mask(["likes"])


def test_served_history_filters_by_time(store):
    store.record_served(1, [10, 11], served_at=100.0, request_id="a")
    store.record_served(1, [12], served_at=200.0, request_id="b")
    assert store.served_ids(1) == {10, 11, 12}
    assert store.served_ids(1, since=150.0) == {12}
    store.clear_served()
    assert store.served_ids(1) == frozenset()


def test_store_persists_across_reopen(tmp_path):
    path = tmp_path / "users.sqlite"
    first = UserStore(path)
    first.record_served(1, [10], served_at=1.0)
    first.close()
    assert UserStore(path).served_ids(1) == {10}


def test_concurrent_writers_and_readers_lose_nothing_and_keep_the_file_sound(tmp_path):
    path = tmp_path / "users.sqlite"
    store = UserStore(path)
    errors: list[BaseException] = []

    def writer(user: int) -> None:
        try:
            for batch in range(20):
                store.record_served(user, range(batch * 10, batch * 10 + 10), served_at=batch)
                store.served_ids(user)
                store.following(user)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(u,)) for u in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(len(store.served_ids(u)) == 200 for u in range(8))
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_in_memory_store_is_shared_across_threads():
    store = UserStore(":memory:")
    thread = threading.Thread(target=store.add_follows, args=([(1, 2)],))
    thread.start()
    thread.join()
    assert store.following(1) == {2}
