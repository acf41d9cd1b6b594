"""SQLite-only behaviour of the user store; what both backends share is
tests/components/stores/test_user_store_contract.py."""

import sqlite3
import threading

import pytest

from components.stores.user_store import UserStore, actions_to_mask, mask_to_actions
from tests.components.stores.test_user_store_contract import write_from_eight_threads


def test_action_masks_round_trip_and_reject_unknown_actions():
    assert mask_to_actions(actions_to_mask(["favorite", "report"])) == ("favorite", "report")
    with pytest.raises(ValueError, match="unknown action 'likes'"):
        actions_to_mask(["likes"])


def test_concurrent_writers_leave_a_sound_file(tmp_path):
    path = tmp_path / "users.sqlite"
    store = UserStore(path)
    write_from_eight_threads(store)
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_in_memory_store_is_shared_across_threads():
    store = UserStore(":memory:")
    thread = threading.Thread(target=store.add_follows, args=([(1, 2)],))
    thread.start()
    thread.join()
    assert store.following(1) == {2}


def test_a_file_written_before_the_post_counters_gets_them_counted_once(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # the engagements table as older versions wrote it
        conn.execute(
            "CREATE TABLE engagements (user_id INTEGER, post_id INTEGER, author_id INTEGER, "
            "timestamp INTEGER, actions INTEGER, product_surface INTEGER, dwell_time_s REAL, "
            "is_original INTEGER)"
        )
        favorite = actions_to_mask(["favorite"])
        conn.executemany(
            "INSERT INTO engagements VALUES (?, ?, 2, 100, ?, 0, 0.0, 1)",
            [(1, 10, favorite), (2, 10, 0), (3, 11, 0)],
        )
    store = UserStore(path)
    assert store.post_engagement([10, 11]) == {10: (2, 1), 11: (1, 0)}
    store.record_engagement_rows([(4, 10, 2, 101, favorite, 0, 0.0, 1)])  # then the trigger
    store.close()
    again = UserStore(path)  # reopening does not count the old rows a second time
    assert again.post_engagement([10, 11]) == {10: (3, 2), 11: (1, 0)}
    again.close()
