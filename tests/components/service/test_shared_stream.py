"""Two For-You service replicas on one Redis server: the user store and the post-event
stream are shared, so a post ingested through one replica is in the other's Thunder and
catalog (and feed), a create sent to both is logged once, and a replica started later
replays what the others acknowledged."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest

from components.resources import POSTS, THUNDER
from components.stores.open import USER_STORE_ENV, open_event_stream
from tests.components.service.test_service import feed, ids, serving

pytestmark = pytest.mark.redis

AUTHOR = 888_888
FAN = 7


async def _post(client, post_id: int, text: str = "shared") -> dict:
    answer = await client.post(
        "/v1/events/posts",
        json={"events": [{"kind": "create", "post": {"post_id": post_id, "author_id": AUTHOR}}]},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _arrives(service, post_id: int) -> None:
    with anyio.fail_after(10):
        while post_id not in service.resources[THUNDER] or post_id not in service.resources[POSTS]:
            await anyio.sleep(0.01)


async def test_a_post_ingested_by_one_replica_is_served_by_the_other(
    world, models, tmp_path: Path, redis_url, monkeypatch
):
    monkeypatch.setenv(USER_STORE_ENV, redis_url)
    async with AsyncExitStack() as stack:
        (a, service_a), (b, service_b) = [
            await stack.enter_async_context(
                serving(world, models, tmp_path / name, recipes=("chronological",))
            )
            for name in ("a", "b")
        ]
        follow = await a.post(
            "/v1/events/social_graph",
            json={"changes": [{"op": "follow", "user_id": FAN, "target_id": AUTHOR}]},
        )
        assert follow.status_code == 200

        first = await _post(a, 9_100_001)
        assert (first["new"], first["duplicates"]) == (1, 0)
        await _arrives(service_b, 9_100_001)
        assert 9_100_001 in ids(await feed(b, "chronological", FAN))

        again = await _post(b, 9_100_001)  # the same create through the other replica
        assert (again["new"], again["duplicates"]) == (0, 1)
        events = [e for e in open_event_stream(redis_url).read() if e.post_id == 9_100_001]
        assert len(events) == 1

        deleted = await b.post(
            "/v1/events/posts", json={"events": [{"kind": "delete", "post_id": 9_100_001}]}
        )
        assert deleted.json()["new"] == 1
        with anyio.fail_after(10):
            while 9_100_001 in service_a.resources[THUNDER]:
                await anyio.sleep(0.01)
        assert 9_100_001 not in service_a.resources[POSTS]

        await _post(a, 9_100_002)
        async with serving(world, models, tmp_path / "late", recipes=("chronological",)) as (
            late,
            service_late,
        ):  # a replica started after the fact replays the stream
            assert 9_100_002 in service_late.resources[THUNDER]
            assert 9_100_001 not in service_late.resources[THUNDER]
            assert 9_100_002 in ids(await feed(late, "chronological", FAN))
