"""The For-You feed follows its ranker: judged by the demo world's oracle, end to end."""

from __future__ import annotations

import numpy as np
import pytest

from components.feed_quality import measure_feed, random_order, served_pool
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
