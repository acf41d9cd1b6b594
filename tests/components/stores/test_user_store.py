"""SQLite-only behaviour of the user store; what both backends share is
tests/components/stores/test_user_store_contract.py."""

import sqlite3
import threading

import pytest

from components.stores.user_store import UserStore, actions_to_mask, mask_to_actions


def test_action_masks_round_trip_and_reject_unknown_actions():
    assert mask_to_actions(actions_to_mask(["favorite", "report"])) == ("favorite", "report")
    with pytest.raises(ValueError, match="unknown action 'likes'"):
        actions_to_mask(["likes"])


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
