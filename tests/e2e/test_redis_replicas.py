"""Two replicas sharing the user store in Redis: a refresh served by the other replica does
not repeat what the first one served, because the served history one records is what the
other filters by. (Each replica has its own Redis client; Thunder and the models are the
session's.)"""

from __future__ import annotations

import pytest

from components.resources import USER_STORE
from components.stores.open import open_user_store
from components.stores.user_store import UserStore
from components.world import load_user_store

pytestmark = pytest.mark.redis


def served_ids(result) -> list[int]:
    return [c.id for c in result.selected]


async def test_a_refresh_on_the_other_replica_does_not_repeat_posts(
    serve, shared_resources, world, redis_url
):
    replicas = [open_user_store(redis_url), open_user_store(redis_url)]
    load_user_store(replicas[0], world)
    served: set[int] = set()
    for turn in range(4):
        store = replicas[turn % 2]
        result = await serve(resources_={**shared_resources, USER_STORE: store})
        ids = served_ids(result)
        assert len(ids) == 35
        assert served.isdisjoint(ids), f"turn {turn} repeated posts the other replica served"
        served.update(ids)


async def test_replicas_with_stores_of_their_own_repeat_posts(
    serve, shared_resources, world, tmp_path
):
    """The control: the same two requests on two unshared SQLite stores repeat the feed."""
    results = []
    for name in ("a", "b"):
        store = UserStore(tmp_path / f"{name}.sqlite")
        load_user_store(store, world)
        results.append(await serve(resources_={**shared_resources, USER_STORE: store}))
        store.close()
    assert set(served_ids(results[0])) == set(served_ids(results[1]))
