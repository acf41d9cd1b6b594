"""user_features, engagement_history, served_history, impressions."""

import pytest

from components.bloom import BloomFilter
from components.models import Engagement, ForYouQuery, SafetySettings
from components.query_hydrators.engagement_history import EngagementHistory, aggregate
from components.query_hydrators.impressions import Impressions
from components.query_hydrators.served_history import ServedHistory
from components.query_hydrators.user_features import UserFeatures
from components.stores.user_store import UserStore
from pipeline.testing import run_component

NOW = 10_000.0


@pytest.fixture
def store():
    store = UserStore(":memory:")
    store.add_follows([(1, 2), (1, 3)])
    store.add_blocks([(1, 4), (5, 1)])
    store.add_mutes([(1, 6)])
    store.add_muted_keywords(1, ["spoilers"])
    store.set_safety(1, SafetySettings(frozenset({"nsfw"})))
    return store


async def test_user_features_loads_graph_keywords_and_settings(store):
    query = await run_component(
        UserFeatures(), ForYouQuery(1, NOW), resources={"user_store": store}
    )
    assert query.following == {2, 3}
    assert (query.blocked, query.muted, query.blocked_by) == ({4}, {6}, {5})
    assert query.muted_keywords == ("spoilers",)
    assert query.safety.allowed_labels == {"nsfw"}


async def test_engagement_history_keeps_original_post_actions_newest_first(store):
    store.record_engagements(
        1,
        [
            Engagement(10, 2, 100, ("favorite",)),
            Engagement(11, 2, 200, ("reply",), is_original=False),  # a reply: dropped
            Engagement(12, 3, 300, ()),  # an impression without action: dropped
            Engagement(13, 3, 400, ("repost",)),
            Engagement(14, 3, 20_000, ("favorite",)),  # after the request: dropped
        ],
    )
    query = await run_component(
        EngagementHistory(), ForYouQuery(1, NOW), resources={"user_store": store}
    )
    assert [e.post_id for e in query.engagement_history] == [13, 10]
    capped = await run_component(
        EngagementHistory(max_length=1), ForYouQuery(1, NOW), resources={"user_store": store}
    )
    assert [e.post_id for e in capped.engagement_history] == [13]


def test_aggregation_merges_actions_on_one_post_within_the_window():
    newest_first = [
        Engagement(10, 2, 500, ("reply",), dwell_time_s=3.0),
        Engagement(10, 2, 450, ("favorite",), dwell_time_s=9.0),
        Engagement(11, 2, 400, ("click",)),
        Engagement(10, 2, 100, ("repost",)),  # same post, outside the window
    ]
    merged = aggregate(newest_first, window_s=60, max_length=10)
    assert [(e.post_id, e.actions) for e in merged] == [
        (10, ("reply", "favorite")),
        (11, ("click",)),
        (10, ("repost",)),
    ]
    assert merged[0].dwell_time_s == 9.0


async def test_served_history_reads_the_served_window(store):
    store.record_served(1, [20], served_at=NOW - 100)
    store.record_served(1, [21], served_at=NOW - 5_000)
    query = await run_component(
        ServedHistory(window_s=1_000), ForYouQuery(1, NOW), resources={"user_store": store}
    )
    assert query.served_ids == {20}


async def test_impressions_add_a_bloom_filter_of_seen_posts_to_the_clients(store):
    store.record_engagements(1, [Engagement(30, 2, 100, ()), Engagement(31, 2, 100, ())])
    client = BloomFilter.of([99])
    query = await run_component(
        Impressions(false_positive_rate=0.01),
        ForYouQuery(1, NOW, impression_bloom_filters=(client,)),
        resources={"user_store": store},
    )
    first, stored = query.impression_bloom_filters
    assert first == client
    assert 30 in stored and 31 in stored and 32 not in stored


async def test_impressions_leave_the_clients_filters_alone_without_history():
    query = await run_component(
        Impressions(), ForYouQuery(1, NOW), resources={"user_store": UserStore(":memory:")}
    )
    assert query.impression_bloom_filters == ()
