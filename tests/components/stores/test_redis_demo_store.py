"""The demo on a Redis user store: ``$FEEDMIXER_USER_STORE`` picks it, replicas starting
together load the world once, and every viewer reads what the SQLite store would answer."""

from __future__ import annotations

import threading

import pytest

from components.demo import open_user_store, world_key
from components.stores.open import USER_STORE_ENV
from components.stores.redis_user_store import RedisUserStore
from components.stores.user_store import UserStore
from components.world import load_user_store

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def world():
    from phoenix_models.data import DemoWorldConfig, generate_demo_world

    return generate_demo_world(
        DemoWorldConfig(n_users=100, n_authors=60, n_posts=1_500, n_impressions=3_000)
    )


def test_the_demo_world_reads_the_same_from_redis_as_from_sqlite(
    world, redis_url, tmp_path, monkeypatch
):
    monkeypatch.setenv(USER_STORE_ENV, redis_url)
    said: list[str] = []
    redis_store = open_user_store(tmp_path / "unused.sqlite", world, said.append)
    assert isinstance(redis_store, RedisUserStore)
    assert said == [f"loaded the demo world into the user store at {redis_url}"]
    sqlite_store = UserStore(tmp_path / "users.sqlite")
    load_user_store(sqlite_store, world)
    for user in world.users.user_id.tolist():
        for read in ("following", "blocked", "muted", "blocked_by", "muted_keywords"):
            assert getattr(redis_store, read)(user) == getattr(sqlite_store, read)(user)
        assert sorted(redis_store.seen_post_ids(user)) == sorted(sqlite_store.seen_post_ids(user))
        assert redis_store.engagement_history(user, limit=50) == sqlite_store.engagement_history(
            user, limit=50
        )
    assert not (tmp_path / "unused.sqlite").exists()


def test_replicas_starting_together_load_the_world_once(world, redis_url, monkeypatch):
    monkeypatch.setenv(USER_STORE_ENV, redis_url)
    said: list[str] = []
    stores: list[RedisUserStore] = []
    threads = [
        threading.Thread(target=lambda: stores.append(open_user_store(None, world, said.append)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stores) == 4 and len(said) == 1
    viewer = int(world.engagements.user_id[0])
    expected = int((world.engagements.user_id == viewer).sum())
    assert len(stores[0].engagement_history(viewer)) == expected  # loaded once, not 4 times
    assert stores[0].get_meta("seed") == world_key(world)


def test_a_half_done_load_is_redone_from_empty(world, redis_url):
    store = RedisUserStore(redis_url)

    def dies(s: RedisUserStore) -> None:
        load_user_store(s, world)
        raise KeyboardInterrupt  # killed after loading, before the seed was recorded

    with pytest.raises(KeyboardInterrupt):
        store.seed("w", dies)
    assert store.seed("w", lambda s: load_user_store(s, world))
    viewer = int(world.engagements.user_id[0])
    expected = int((world.engagements.user_id == viewer).sum())
    assert len(store.engagement_history(viewer)) == expected
    assert not store.seed("w", lambda s: load_user_store(s, world))
