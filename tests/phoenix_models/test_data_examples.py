"""Interaction logs and the vectorised example builders, against hand-made logs."""

import numpy as np
import pytest

from phoenix_models.batch import post_age_bucket
from phoenix_models.config import PhoenixConfig
from phoenix_models.data.demo_world import ACTION_INDEX
from phoenix_models.data.examples import (
    Catalogue,
    HashedLog,
    impression_chunks,
    pool_picks,
    popularity_picks,
    post_age_buckets,
    ranker_batch,
    with_sampled_negatives,
)
from phoenix_models.data.interactions import InteractionLog

FAV = ACTION_INDEX["favorite"]


def _log():
    """User 1: rows 0-3 at t=1..4, row 1 not engaged. User 2: rows 4-5."""
    actions = np.zeros((6, 19), bool)
    actions[[0, 2, 3, 4], FAV] = True
    return InteractionLog.from_arrays(
        user_id=np.array([1, 1, 1, 1, 2, 2]),
        post_id=np.array([10, 11, 12, 13, 10, 14]),
        author_id=np.array([5, 5, 6, 6, 5, 7]),
        timestamp=np.array([1, 2, 3, 4, 1, 2]),
        actions=actions,
        dwell_s=np.arange(6, dtype=np.float32),
    )


@pytest.fixture
def hashed():
    return HashedLog.build(_log(), PhoenixConfig.tiny(history_seq_len=2))


def test_history_is_engaged_rows_strictly_before_newest_last(hashed):
    index = hashed.history_index(np.array([0, 1, 3, 5]))
    assert index.tolist() == [[-1, -1], [0, -1], [0, 2], [4, -1]]


def test_context_at_end_holds_the_latest_history_and_nothing_for_strangers(hashed):
    ctx = hashed.context_at_end(np.array([1, 2, 99]))
    posts = np.asarray(ctx.history_post_hashes)[..., 0]
    assert (posts[0] == hashed.post_hashes[[2, 3], 0]).all()
    assert posts[1, 0] == hashed.post_hashes[4, 0] and posts[1, 1] == 0
    assert not posts[2].any() and ctx.user_hashes[2, 0] != 0


def test_context_padding_carries_no_features(hashed):
    ctx = hashed.context(np.array([1]))
    assert ctx.history_actions[0, 1].sum() == 0 and ctx.history_dwell[0, 1] == 0
    assert ctx.history_actions[0, 0, FAV] == 1.0 and ctx.history_dwell[0, 0] == 0.0


def test_impression_chunks_never_mix_users():
    chunks = impression_chunks(_log(), np.arange(6), slots=3)
    assert chunks.post_id.tolist() == [[10, 11, 12], [13, 0, 0], [10, 14, 0]]
    assert chunks.context_row.tolist() == [0, 3, 4]
    assert chunks.labels[0, :, FAV].tolist() == [True, False, True]


def test_sampled_negatives_skip_posts_the_user_has_seen(hashed):
    log = hashed.log
    chunks = impression_chunks(log, np.arange(6), slots=3)
    catalogue = Catalogue(np.array([10, 99]), np.array([5, 8]), np.array([1.0, 1.0]))
    pick = popularity_picks(catalogue, 3, 20, np.random.default_rng(0))
    out = with_sampled_negatives(chunks, log, catalogue, pick)
    negatives = out.post_id[:, 3:]
    assert set(np.unique(negatives)) == {0, 99}  # 10 was seen by both users
    assert not out.labels[:, 3:].any() and (out.post_age_s[:, 3:] == -1).all()
    batch = ranker_batch(hashed, out)
    assert batch.candidates.post_hashes.shape == (3, 23, 2)


def test_pool_picks_draw_only_from_each_requests_own_pool():
    pool = np.array([[0, 1], [5, 6]])
    picks = pool_picks(pool, np.array([1, 0, 1]), 50, np.random.default_rng(0))
    assert set(picks[0]) == {5, 6} and set(picks[1]) == {0, 1}


def test_post_age_buckets_match_the_scalar_version():
    cfg = PhoenixConfig.tiny()
    ages = np.array([-1, 0, 59, 60, 3_599, 3_600, 7_200, 10**7])
    expected = [post_age_bucket(cfg, None if a < 0 else a / 60) for a in ages]
    assert post_age_buckets(cfg, ages).tolist() == expected


def test_log_is_sorted_by_user_then_time():
    log = _log()
    assert log.user_id.tolist() == [1, 1, 1, 1, 2, 2]
    assert log.engaged.tolist() == [True, False, True, True, True, False]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"post_id": np.array([1, 2])}, r"post_id must have shape \(3,\)"),
        ({"actions": np.zeros((3, 4), bool)}, r"actions must have shape \(3, 19\)"),
        ({"author_id": np.array([0, 1, 1])}, "author_id must be >= 1"),
    ],
)
def test_bad_logs_are_rejected(change, match):
    columns = {
        "user_id": np.array([1, 1, 2]),
        "post_id": np.array([1, 2, 3]),
        "author_id": np.array([1, 1, 1]),
        "timestamp": np.array([1, 2, 3]),
        "actions": np.zeros((3, 19), bool),
        **change,
    }
    with pytest.raises(ValueError, match=match):
        InteractionLog.from_arrays(**columns)


def test_chunks_need_a_slot():
    with pytest.raises(ValueError, match="slots must be >= 1"):
        impression_chunks(_log(), np.arange(6), slots=0)
