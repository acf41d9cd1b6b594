"""The post-event stream on a Redis Stream: appended once per post id, seen by every Thunder
replica, replayed after a restart without losing or doubling anything."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from components.models import Post
from components.stores.redis_client import RedisUnavailable
from components.thunder.event_log import PostEvent, replay
from components.thunder.redis_stream import RedisEventLog, StreamFollower
from components.thunder.store import ThunderStore
from tests.components.thunder.test_event_log import NOW, every_field_post

pytestmark = pytest.mark.redis


def post(pid: int, age: float = 60, **fields) -> Post:
    return Post(pid, 10, int(NOW - age), text=f"post {pid} ✓", **fields)


def thunder() -> ThunderStore:
    return ThunderStore(clock=lambda: NOW)


def ids(store: ThunderStore) -> list[int]:
    return sorted(p.post_id for p in store.get_posts(1, [10]).posts)


def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_events_round_trip_with_every_post_field(redis_url):
    events = [PostEvent.create(every_field_post()), PostEvent.delete(2, at=NOW)]
    assert RedisEventLog(redis_url).append(events) == events
    assert list(RedisEventLog(redis_url).read()) == events


def test_a_post_id_is_appended_once_per_kind_even_from_racing_replicas(redis_url):
    log = RedisEventLog(redis_url)
    first = [PostEvent.create(post(1)), PostEvent.create(post(1)), PostEvent.delete(2, NOW)]
    assert log.append(first) == [first[0], first[2]]
    again = [PostEvent.create(post(1)), PostEvent.delete(1, NOW), PostEvent.delete(2, NOW)]
    assert log.append(again) == [again[1]]

    batch = [PostEvent.create(post(i)) for i in range(100, 200)]
    logs = [RedisEventLog(redis_url) for _ in range(6)]  # six replicas, one batch
    threads = [threading.Thread(target=r.append, args=(batch,)) for r in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = list(log.read())
    assert len(events) == 3 + 100
    assert sorted(e.post_id for e in events[3:]) == list(range(100, 200))


def test_every_replica_sees_an_event_appended_once(redis_url):
    log = RedisEventLog(redis_url)
    replicas = [thunder(), thunder()]
    followers = [StreamFollower(RedisEventLog(redis_url), s, block_ms=100) for s in replicas]
    for follower in followers:
        follower.catch_up()
        follower.start()
    try:
        log.append([PostEvent.create(post(1)), PostEvent.create(post(2))])
        assert all(eventually(lambda s=s: ids(s) == [1, 2]) for s in replicas)
        log.append([PostEvent.delete(1, at=NOW)])
        assert all(eventually(lambda s=s: ids(s) == [2]) for s in replicas)
    finally:
        for follower in followers:
            follower.stop()


def test_a_restarted_replica_catches_up_and_loses_nothing(redis_url):
    log = RedisEventLog(redis_url)
    log.append([PostEvent.create(post(i)) for i in range(1, 4)])
    before = thunder()
    follower = StreamFollower(RedisEventLog(redis_url), before, block_ms=100)
    follower.catch_up()
    follower.start()
    assert eventually(lambda: ids(before) == [1, 2, 3])
    follower.stop()  # the replica goes down; events keep arriving
    log.append([PostEvent.create(post(4)), PostEvent.delete(2, at=NOW)])
    log.append([PostEvent.create(post(i)) for i in range(5, 2_505)])  # more than a page

    restarted = thunder()
    stats = StreamFollower(RedisEventLog(redis_url), restarted).catch_up()
    assert (stats.events, stats.created, stats.deletes) == (2_505, 2_503, 1)
    assert 2 not in restarted and all(i in restarted for i in (1, 3, 4, 5, 2_504))


def test_replaying_twice_applies_nothing_twice(redis_url):
    log = RedisEventLog(redis_url)
    log.append([PostEvent.create(post(i)) for i in range(1, 6)])
    log.append([PostEvent.delete(3, at=NOW - 10), PostEvent.delete(9, at=NOW - 10)])
    log.append([PostEvent.create(post(9))])  # created after its delete: stays deleted
    store = thunder()
    first = StreamFollower(log, store).catch_up()
    assert (first.events, first.created, first.deletes) == (8, 4, 2)
    again = StreamFollower(log, store).catch_up()  # from the start, into the same store
    assert (again.events, again.created) == (8, 0)
    assert replay(log, store).created == 0  # the file log's replay works on the stream too
    assert ids(store) == [1, 2, 4, 5]


def test_replay_skips_and_compaction_drops_events_past_retention(redis_url):
    log = RedisEventLog(redis_url)
    log.append([PostEvent.create(post(1, age=200_000)), PostEvent.create(post(2))])
    store = thunder()
    assert StreamFollower(log, store).catch_up().created == 1
    assert 2 in store and 1 not in store
    assert log.compact(keep_after=NOW - store.limits.retention_s) == 1
    assert [e.post_id for e in log.read()] == [2]
    assert log.append([PostEvent.create(post(1, age=200_000))]) != []  # its id forgotten


def test_the_follower_hands_applied_events_on(redis_url):
    seen: list[int] = []
    log = RedisEventLog(redis_url)
    log.append([PostEvent.create(post(1)), PostEvent.create(post(2, age=300_000))])
    StreamFollower(
        log, thunder(), also=lambda events: seen.extend(e.post_id for e in events)
    ).catch_up()
    assert seen == [1]  # the one inside retention


def test_an_append_to_a_server_that_is_down_is_not_acknowledged(private_redis):
    log = RedisEventLog(private_redis.url, timeout_s=1.0)
    private_redis.stop()
    with pytest.raises(RedisUnavailable, match=private_redis.url):
        log.append([PostEvent.create(post(1))])


def test_a_follower_rides_out_a_redis_restart(private_redis):
    store = thunder()
    follower = StreamFollower(
        RedisEventLog(private_redis.url, timeout_s=1.0), store, block_ms=100, retry_s=0.05
    )
    follower.catch_up()
    follower.start()
    try:
        RedisEventLog(private_redis.url).append([PostEvent.create(post(1))])
        assert eventually(lambda: 1 in store)
        private_redis.restart()  # the follower's reads fail, then reconnect
        RedisEventLog(private_redis.url).append([PostEvent.create(post(2))])
        assert eventually(lambda: 2 in store)
    finally:
        follower.stop()
