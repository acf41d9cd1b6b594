"""The demo world: determinism, referential integrity, and an oracle that matches the log."""

import dataclasses

import numpy as np
import pytest

from phoenix_models.data.demo_world import (
    ACTION_INDEX,
    ACTIONS,
    POST_ID_BASE,
    DemoWorldConfig,
    engagement_gate,
    generate_demo_world,
    oracle_probabilities,
)

SMALL = DemoWorldConfig(n_users=300, n_authors=150, n_posts=4_000, n_impressions=40_000, seed=3)


@pytest.fixture(scope="module")
def world():
    return generate_demo_world(SMALL)


def test_same_config_gives_identical_world(world):
    again = generate_demo_world(SMALL)
    for part in ("users", "authors", "posts", "engagements"):
        ours, theirs = getattr(world, part), getattr(again, part)
        for field in dataclasses.fields(ours):
            a, b = getattr(ours, field.name), getattr(theirs, field.name)
            same = a == b if isinstance(a, tuple) else np.array_equal(a, b)
            assert same, f"{part}.{field.name} differs"
    assert np.array_equal(world.follows, again.follows)


def test_another_seed_gives_another_world(world):
    other = generate_demo_world(dataclasses.replace(SMALL, seed=4))
    assert not np.array_equal(world.posts.author_id, other.posts.author_id)


def test_posts_are_recent_and_reference_only_earlier_posts(world):
    posts, now = world.posts, world.now
    assert np.all(np.diff(posts.created_at) >= 0)
    assert posts.created_at.min() >= now - SMALL.horizon_s and posts.created_at.max() < now
    assert np.array_equal(posts.post_id, POST_ID_BASE + 1 + np.arange(SMALL.n_posts))
    for column in ("in_reply_to_post_id", "reposted_post_id", "quoted_post_id"):
        ref = getattr(posts, column)
        has = ref != 0
        assert has.any(), column
        assert np.all(ref[has] < posts.post_id[has]), column
    replies = posts.in_reply_to_post_id != 0
    parents = world.post_index(posts.in_reply_to_post_id[replies])
    assert np.array_equal(posts.in_reply_to_user_id[replies], posts.author_id[parents])
    assert np.array_equal(posts.conversation_id[replies], posts.conversation_id[parents])
    roots = world.post_index(posts.conversation_id)
    assert np.all(posts.in_reply_to_post_id[roots] == 0)


def test_reposts_show_the_original_and_videos_have_durations(world):
    posts = world.posts
    reposts = np.flatnonzero(posts.reposted_post_id)
    originals = world.post_index(posts.reposted_post_id[reposts])
    assert np.all(posts.reposted_post_id[originals] == 0)  # never a repost of a repost
    assert list(posts.text[reposts]) == list(posts.text[originals])
    assert np.all(posts.video_duration_s[posts.is_video] >= 3.0)
    assert np.all(posts.video_duration_s[~posts.is_video] == 0.0)
    assert set(np.unique(posts.safety_label)) == {"", "nsfw", "violence", "spam"}


def test_text_carries_topic_phrases_and_hashtags(world):
    text = " ".join(world.posts.text[:2_000])
    assert "#" in text
    assert any(phrase in text.lower() for phrase in ("machine learning", "world cup", "cast iron"))


def test_impressions_are_unique_causal_and_never_own_posts(world):
    e, posts = world.engagements, world.posts
    index = world.post_index(e.post_id)
    assert np.all(e.timestamp > posts.created_at[index]) and np.all(e.timestamp < world.now)
    assert not np.any(posts.author_id[index] == e.user_id)
    pairs = e.user_id * (SMALL.n_posts + 1) + index
    assert np.unique(pairs).size == pairs.size
    assert e.actions.shape == (e.user_id.size, len(ACTIONS))


def test_follow_graph_has_no_self_follows_and_supports_lookup(world):
    assert not np.any(world.follows[:, 0] == world.follows[:, 1])
    user = int(world.follows[0, 0])
    followed = world.follows_of(user)
    assert followed.size > 0
    assert world.is_following(np.full(followed.size, user), followed).all()
    assert not world.is_following(np.array([user]), np.array([user]))[0]


def test_oracle_matches_the_logged_action_rates(world):
    e = world.engagements
    probs = oracle_probabilities(world, e.user_id, e.post_id)
    for name in ("favorite", "click", "repost", "dwell", "dwell_time", "not_interested"):
        k = ACTION_INDEX[name]
        observed, expected = e.actions[:, k].mean(), probs[:, k].mean()
        stderr = np.sqrt(expected * (1 - expected) / e.user_id.size)
        assert abs(observed - expected) < 5 * stderr, name


def test_engagement_rises_with_hidden_affinity(world):
    e = world.engagements
    gate = engagement_gate(world, e.user_id, e.post_id)
    favorite = e.actions[:, ACTION_INDEX["favorite"]]
    assert favorite[gate > 0.5].mean() > 3 * favorite[gate < 0.25].mean()


@pytest.mark.parametrize(
    ("users", "posts", "match"),
    [
        (np.array([1, 2]), np.array([POST_ID_BASE + 1]), "equal length"),
        (np.array([0]), np.array([POST_ID_BASE + 1]), "user ids must lie"),
        (np.array([1]), np.array([5]), "post ids must lie"),
    ],
)
def test_oracle_rejects_bad_ids(world, users, posts, match):
    with pytest.raises(ValueError, match=match):
        oracle_probabilities(world, users, posts)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"n_authors": 10_000}, "n_authors"),
        ({"n_topics": 1}, "n_topics"),
        ({"reply_fraction": 0.9, "repost_fraction": 0.2}, "fractions"),
        ({"in_network_share": 0.8, "topic_share": 0.5}, "in_network_share"),
    ],
)
def test_config_rejects_impossible_worlds(override, match):
    with pytest.raises(ValueError, match=match):
        DemoWorldConfig(**override)
