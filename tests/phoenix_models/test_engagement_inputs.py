"""The ranker's engagement-so-far input: buckets and the leak-free training counts (the
model's side: test_candidate_post_inputs.py)."""

from __future__ import annotations

import numpy as np
import pytest

from phoenix_models.batch import (
    engagement_bucket,
)
from phoenix_models.config import (
    ENGAGEMENT_SHARE_BOUNDS,
    ENGAGEMENT_VOCAB_SIZE,
    POSITIVE_ACTIONS,
    PhoenixConfig,
)
from phoenix_models.data import DemoWorldConfig, generate_demo_world
from phoenix_models.data.examples import HashedLog, impression_chunks, ranker_batch
from phoenix_models.data.interactions import demo_world_log

CFG = PhoenixConfig.tiny(action_bias=True, engagement_inputs=True)
SHARES = len(ENGAGEMENT_SHARE_BOUNDS) + 1


def test_buckets_cross_a_log2_impression_count_with_the_engaged_share():
    buckets = engagement_bucket(
        [-1, np.nan, 0, 1, 1, 3, 4, 40, 10_000], [0, 0, 0, 0, 1, 1, 0, 20, 10_000]
    ).tolist()
    assert buckets[:3] == [0, 0, 1]  # unknown (negative or NaN), then "no impressions yet"
    assert buckets[3] == 1 + SHARES and buckets[4] == 1 + SHARES + SHARES - 1  # 1 seen: 0 / 1
    assert buckets[5] == 1 + 2 * SHARES + np.searchsorted(ENGAGEMENT_SHARE_BOUNDS, 1 / 3, "right")
    assert buckets[6] == 1 + 3 * SHARES  # 4..7 impressions, none engaged
    half = np.searchsorted(ENGAGEMENT_SHARE_BOUNDS, 0.5, "right")
    assert buckets[7] == buckets[8] - (SHARES - 1) + half  # 32+ impressions: the last count
    assert max(buckets) == ENGAGEMENT_VOCAB_SIZE - 1  # the largest count and share: last row
    assert engagement_bucket([2], [5]).tolist() == engagement_bucket([2], [2]).tolist()  # k > n


def test_engagement_so_far_counts_only_earlier_impressions_of_the_same_post():
    world = generate_demo_world(
        DemoWorldConfig(n_users=60, n_authors=30, n_posts=300, n_impressions=2_000)
    )
    log = demo_world_log(world)
    impressions, engaged = log.engagement_so_far
    positive = log.positive(POSITIVE_ACTIONS)
    for row in range(len(log)):
        earlier = (log.post_id == log.post_id[row]) & (
            (log.timestamp < log.timestamp[row])
            | ((log.timestamp == log.timestamp[row]) & (log.user_id < log.user_id[row]))
        )
        assert impressions[row] == earlier.sum()
        assert engaged[row] == (earlier & positive).sum()
    assert impressions.max() > 5 and engaged.max() > 0  # the check above is not vacuous

    chunks = impression_chunks(log, np.arange(len(log)), 4)
    on = ranker_batch(HashedLog.build(log, CFG), chunks).candidates.engagement
    real = chunks.post_id != 0
    np.testing.assert_array_equal(
        on[real], engagement_bucket(chunks.post_impressions, chunks.post_engaged)[real]
    )
    assert (on[~real] == 0).all()
    plain = ranker_batch(HashedLog.build(log, PhoenixConfig.tiny()), chunks)
    assert plain.candidates.engagement is None


def test_the_config_round_trips_and_rejects_a_non_boolean():
    assert PhoenixConfig.from_json(CFG.to_json()) == CFG
    with pytest.raises(ValueError, match="engagement_inputs must be true or false"):
        PhoenixConfig.tiny(engagement_inputs="yes")


def test_post_counts_before_are_every_posts_counts_strictly_before_each_time():
    world = generate_demo_world(
        DemoWorldConfig(n_users=60, n_authors=30, n_posts=300, n_impressions=2_000)
    )
    log = demo_world_log(world)
    column = world.post_index(log.post_id)
    positive = log.positive(POSITIVE_ACTIONS)
    # unsorted times, one before the log, one after it, and two at a logged second
    times = np.array(
        [log.timestamp.max() + 1, log.timestamp[50], log.timestamp.min() - 1, log.timestamp[7]]
    )
    shown, engaged = log.post_counts_before(column, world.config.n_posts, times)
    assert shown.shape == engaged.shape == (4, world.config.n_posts)
    for t, time in enumerate(times):
        before = log.timestamp < time
        np.testing.assert_array_equal(
            shown[t], np.bincount(column[before], minlength=world.config.n_posts)
        )
        np.testing.assert_array_equal(
            engaged[t], np.bincount(column[before & positive], minlength=world.config.n_posts)
        )
    assert shown[0].sum() == len(log) and shown[2].sum() == 0
    with pytest.raises(ValueError, match="one entry per row"):
        log.post_counts_before(column[:-1], world.config.n_posts, times)
