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
