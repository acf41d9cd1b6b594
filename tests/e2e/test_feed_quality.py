"""The For-You feed follows its ranker: judged by the demo world's oracle, end to end."""

from __future__ import annotations

import numpy as np
import pytest

from components.feed_quality import measure_feed, random_order, served_pool
from components.models import ACTIONS, PostCandidate
from components.resources import RANKER
from components.testing import ConstantRanker, OracleRanker

FEED_SIZE = 35


@pytest.fixture
def viewers(world) -> list[int]:
    """The six accounts that follow the most others (they have in-network pools)."""
    follows = np.bincount(world.follows[:, 0], minlength=world.config.n_users + 1)
    return [int(u) for u in np.argsort(-follows, kind="stable")[:6]]


async def test_an_oracle_ranker_serves_close_to_the_best_feed_of_the_pool(
    serve, resources, world, viewers
):
    oracle = {**resources, RANKER: OracleRanker(world)}
    rng = np.random.default_rng(0)
    served, baseline, oon = [], [], []
    for user in viewers:
        result = await serve(user=user, resources_=oracle)
        pool = served_pool(world, user, result, "score")
        args = (pool.gains, pool.in_network, pool.authors, FEED_SIZE)
        quality = measure_feed(pool.gains, pool.served, *args[1:], scores=pool.scores)
        served.append(quality.quality_ratio)
        baseline.append(
            measure_feed(
                pool.gains, random_order(pool.gains.size, FEED_SIZE, rng), *args[1:]
            ).quality_ratio
        )
        oon.append(quality.oon_share)
        assert quality.score_correlation is not None and quality.score_correlation > 0.3
    assert np.mean(served) >= 0.85
    assert np.mean(served) > np.mean(baseline) + 0.3
    assert max(oon) > 0  # out-of-network posts make it into the feed on merit


async def test_equal_scores_fall_back_to_the_engagement_prior_then_newest_in_network(
    serve, resources, viewers
):
    result = await serve(user=viewers[0], resources_={**resources, RANKER: ConstantRanker()})
    selected = result.selected
    scores = [c.score for c in selected]
    assert scores == sorted(scores, reverse=True)
    # the model says nothing: what moves a post is its engagement so far (scaling the
    # positive actions' part of a sum all posts of a kind share: long videos earn more),
    # then the demotions
    kinds: dict[float, list] = {}
    for c in selected:
        kinds.setdefault(c.weighted_sum, []).append(c)
    for plain_sum, posts in kinds.items():
        by_factor = sorted(posts, key=lambda c: c.engagement_factor)
        assert [c.weighted_score for c in by_factor] == sorted(c.weighted_score for c in posts)
        assert all(
            (c.weighted_score > plain_sum) == (c.engagement_factor > 1)
            for c in posts
            if c.engagement_factor != 1
        )
    factors = [c.engagement_factor for c in selected if c.diversity_factor == 1.0]
    assert len(set(factors)) > 1  # the counts do tell posts apart
    # posts left equal (same counts, first of their author, in-network) keep source order:
    # Thunder's, newest first
    ties = {}
    for c in selected:
        if c.in_network and c.diversity_factor == 1.0:
            ties.setdefault(c.score, []).append(c.created_at)
    tied = max(ties.values(), key=len)
    assert len(tied) > 1 and tied == sorted(tied, reverse=True)


def test_the_oracle_without_post_quality_knows_everything_but_each_post_s_own_quality(world):
    from phoenix_models.data import oracle_probabilities

    blind = OracleRanker.without_post_quality(world)
    posts = world.posts
    # two original posts of one author on one topic, of different hidden quality
    author, topic = posts.author_id[0], posts.topic[0]
    same = np.flatnonzero((posts.author_id == author) & (posts.topic == topic))
    first, second = same[np.argsort(posts.quality[same])[[0, -1]]]
    assert posts.quality[first] < posts.quality[second]
    ids = posts.post_id[[first, second]]
    viewer = int(np.argmax(world.users.topic_preference[:, topic])) + 1  # likes the topic
    user = np.full(2, viewer, np.int64)
    truth = oracle_probabilities(world, user, ids)
    favorite = ACTIONS.index("favorite")
    assert truth[0, favorite] < truth[1, favorite]  # the oracle tells them apart
    candidates = [PostCandidate(id=int(i), author_id=int(author)) for i in ids]
    blind_scores = blind.predict(viewer, (), candidates, 0.0)
    assert blind_scores[0, favorite] == blind_scores[1, favorite]
    assert world.posts.quality[first] != blind.world.posts.quality[first]  # world untouched
