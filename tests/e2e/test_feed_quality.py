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


async def test_equal_scores_fall_back_to_newest_in_network_posts_one_per_author(
    serve, resources, viewers
):
    result = await serve(user=viewers[0], resources_={**resources, RANKER: ConstantRanker()})
    scores = [c.score for c in result.selected]
    assert scores == sorted(scores, reverse=True)
    top = [c for c in result.selected if c.score == scores[0]]
    assert len(top) > 1
    assert all(c.in_network for c in top)
    assert len({c.author_id for c in top}) == len(top)
    created = [c.created_at for c in top]
    assert created == sorted(created, reverse=True)
