"""What only the Redis user store can get wrong: a server that is down or goes away, keys
shared between replicas and kept apart by prefix, and choosing a store by URL."""

from __future__ import annotations

import pytest
import redis

from components.filters.author_social_graph import AuthorSocialGraph
from components.models import ForYouQuery, PostCandidate
from components.query_hydrators.user_features import UserFeatures
from components.stores.open import open_user_store
from components.stores.redis_client import RedisUnavailable
from components.stores.redis_user_store import RedisUserStore
from components.stores.user_store import UserStore, UserStoreCorrupt
from pipeline import FeedmixerError, Pipeline, Source

pytestmark = pytest.mark.redis


def test_a_server_that_is_down_fails_the_open_naming_the_url(private_redis):
    url = private_redis.url
    private_redis.stop()
    with pytest.raises(RedisUnavailable, match=f"^{url}: cannot reach Redis") as caught:
        open_user_store(url)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_server_that_goes_away_fails_each_read_and_write_naming_the_url(private_redis):
    store = RedisUserStore(private_redis.url, timeout_s=1.0)
    store.add_follows([(1, 2)])
    private_redis.stop()
    for call in (lambda: store.following(1), lambda: store.record_served(1, [3], 1.0)):
        with pytest.raises(RedisUnavailable, match=private_redis.url):
            call()
    with pytest.raises(RedisUnavailable):
        store.verify()


class _Posts(Source[ForYouQuery, PostCandidate]):
    def get_candidates(self, query: ForYouQuery) -> list[PostCandidate]:
        return [PostCandidate(i, author_id=i + 100, created_at=1) for i in range(3)]


async def test_when_the_store_is_down_the_graph_filter_fails_closed(private_redis):
    store = RedisUserStore(private_redis.url, timeout_s=1.0)
    feed = Pipeline(
        "graph",
        query_hydrators=[UserFeatures()],
        sources=[_Posts()],
        filters=[AuthorSocialGraph()],
        resources={"user_store": store},
    )
    served = await feed.execute(ForYouQuery(1, 10.0))
    assert [c.id for c in served.selected] == [0, 1, 2]
    private_redis.stop()
    result = await feed.execute(ForYouQuery(1, 10.0))
    assert result.selected == [] and len(result.removed) == 3
    [failure] = [d for d in result.degradations if d.component == "user_features"]
    assert private_redis.url in failure.message


def test_two_replicas_see_each_others_writes_at_once(redis_url):
    one, two = open_user_store(redis_url), open_user_store(redis_url)
    one.record_served(7, [10, 11], served_at=5.0)
    two.add_blocks([(8, 7)])
    assert two.served_ids(7) == {10, 11}
    assert one.blocked_by(7) == {8}


def test_prefixes_keep_stores_apart_and_hold_every_key(redis_url):
    a = open_user_store(f"{redis_url}?prefix=a:")
    b = open_user_store(f"{redis_url}?prefix=b:")
    a.add_follows([(1, 2)])
    a.record_served(1, [3], served_at=1.0)
    a.set_meta("world", "x")
    assert b.following(1) == frozenset() and b.get_meta("world") is None
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert sorted(client.keys("*")) == [
        "a:follows:1",
        "a:meta",
        "a:served:1",
        "a:served_users",
        "b:meta",  # b's own: it noted that it had no engagements to count
    ]
    b.clear_served()
    assert a.served_ids(1) == {3}


def test_a_store_written_before_the_post_counters_gets_them_counted_once(redis_url):
    store = open_user_store(redis_url)
    store.record_engagement_rows([(1, 10, 2, 100, 1, 0, 0.0, 1), (2, 10, 2, 101, 0, 0, 0.0, 1)])
    store.record_engagement_rows([(3, 11, 2, 102, 1, 0, 0.0, 1)])
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    # what a store written by an older version holds: engagements, no counters
    client.delete("feedmixer:post_impressions", "feedmixer:post_engaged")
    client.hdel("feedmixer:meta", "post_engagement_backfilled")
    assert store.post_engagement([10, 11]) == {10: (0, 0), 11: (0, 0)}
    reopened = open_user_store(redis_url)
    assert reopened.post_engagement([10, 11]) == {10: (2, 1), 11: (1, 1)}
    reopened.record_engagement_rows([(4, 10, 2, 103, 1, 0, 0.0, 1)])
    again = open_user_store(redis_url)  # counted once: reopening does not count again
    assert again.post_engagement([10, 11]) == {10: (3, 2), 11: (1, 1)}


def test_a_key_of_the_wrong_type_is_reported_as_corrupt(redis_url):
    redis.Redis.from_url(redis_url).set("feedmixer:follows:1", "not a set")
    with pytest.raises(UserStoreCorrupt, match="wrong type"):
        open_user_store(redis_url).following(1)


def test_urls_choose_the_backend(tmp_path):
    absolute = open_user_store(f"sqlite:///{tmp_path}/users.sqlite")
    assert isinstance(absolute, UserStore) and absolute.path == f"{tmp_path}/users.sqlite"
    assert open_user_store("sqlite://").path == ":memory:"
    assert open_user_store(tmp_path / "plain.sqlite").path == str(tmp_path / "plain.sqlite")
    with pytest.raises(FeedmixerError, match="unknown user store URL scheme 'postgres'"):
        open_user_store("postgres://localhost/db")
