"""The published hash function, and batches built from plain Python."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix_models import (
    CandidatePost,
    EntityHash,
    HistoryItem,
    InputError,
    PhoenixConfig,
    candidate_batch,
    context_batch,
    make_batch,
)
from phoenix_models.batch import bucket_size, pad_rows, post_age_bucket
from phoenix_models.hashing import hash_ids

SPEC = EntityHash(
    vocab_size=1_000_003,
    scales=(9_000_000_000_000_000_041, 3),
    biases=(-7, 9_100_000_000_000_000_000),
    modulus=2_305_843_009_213_693_951,
)


def published_hash(ids, spec: EntityHash) -> np.ndarray:
    """X's run_pipeline._hash_ids, line for line (NumPy int64 scalars, Python %)."""
    ids = np.asarray(ids, dtype=np.uint64).astype(np.int64).ravel()
    scales = np.array(spec.scales, dtype=np.int64)
    biases = np.array(spec.biases, dtype=np.int64)
    out = np.empty((len(ids), len(scales)), dtype=np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in range(len(ids)):
            for j in range(len(scales)):
                raw = (ids[i] * scales[j] + biases[j]) % np.int64(spec.modulus)
                out[i, j] = 0 if ids[i] == 0 else int((int(raw) % (spec.vocab_size - 1)) + 1)
    return out


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=20))
def test_hash_equals_the_published_loop_including_overflow_and_ids_above_2_63(ids):
    np.testing.assert_array_equal(
        hash_ids(np.array(ids, dtype=np.uint64), SPEC), published_hash(ids, SPEC)
    )


def test_id_zero_is_padding_and_real_ids_land_in_1_to_vocab_minus_1():
    hashes = hash_ids(np.arange(0, 5000), EntityHash(7, (3, 11), (1, 2), 1_000_003))
    assert hashes[0].tolist() == [0, 0]
    assert hashes[1:].min() >= 1 and hashes[1:].max() <= 6


def test_batch_shapes_masks_and_history_truncation():
    cfg = PhoenixConfig.tiny()
    history = [HistoryItem(post_id=i + 1, author_id=7, actions={2: 1.0}) for i in range(20)]
    batch = make_batch(cfg, 5, history, [CandidatePost(100, 7), CandidatePost(101, 8)])

    ctx, cands = batch.context, batch.candidates
    assert ctx.history_post_hashes.shape == (1, cfg.history_seq_len, 2)
    assert ctx.history_mask.all()  # 20 items, first S kept (as the published runner)
    np.testing.assert_array_equal(
        ctx.history_post_hashes[0, :, 0], hash_ids(np.arange(1, 9), cfg.item_hash)[:, 0]
    )
    assert ctx.history_actions[0, :, 2].all() and ctx.history_actions.sum() == cfg.history_seq_len
    assert cands.mask.tolist() == [[True, True]]


def test_candidate_lists_of_different_lengths_are_padded():
    cfg = PhoenixConfig.tiny()
    cands = candidate_batch(cfg, [[CandidatePost(1, 1)] * 3, []], num_slots=4)
    assert cands.mask.tolist() == [[True, True, True, False], [False] * 4]
    assert context_batch(cfg, [(1, []), (0, [])]).user_mask.tolist() == [True, False]


@pytest.mark.parametrize(
    ("minutes", "bucket"),
    [(None, 0), (-5, 0), (0, 1), (59.9, 1), (60, 2), (4799, 80), (4800, 81), (10**6, 81)],
)
def test_post_age_buckets_are_hourly_with_missing_and_overflow(minutes, bucket):
    assert post_age_bucket(PhoenixConfig.tiny(), minutes) == bucket


@pytest.mark.parametrize(
    ("history", "candidates", "message"),
    [
        ([HistoryItem(1, 2, {19: 1.0})], [], "action index 19 out of range"),
        ([HistoryItem(1, 2, {-1: 1.0})], [], "action index -1 out of range"),
        ([HistoryItem("1", 2)], [], "post_id must be an integer"),
        ([HistoryItem(1, 2, product_surface=16)], [], r"product_surface 16 out of range \[0, 16\)"),
        ([], [CandidatePost(2**64, 1)], r"post_id must be in \[0, 2\*\*64\)"),
    ],
)
def test_malformed_python_inputs_raise_input_error(history, candidates, message):
    with pytest.raises(InputError, match=message):
        make_batch(PhoenixConfig.tiny(), 1, history, candidates)


@pytest.mark.parametrize(
    ("n", "size"), [(0, 8), (8, 8), (9, 12), (13, 16), (100, 128), (1536, 1536), (1537, 2048)]
)
def test_candidate_buckets_are_powers_of_two_and_one_and_a_half_times_those(n, size):
    assert bucket_size(n) == size


def test_batch_buckets_start_at_one():
    assert [bucket_size(n, minimum=1) for n in (1, 2, 3, 5, 7)] == [1, 2, 3, 6, 8]


def test_pad_rows_zero_pads_one_axis_and_leaves_full_arrays_uncopied():
    cfg = PhoenixConfig.tiny()
    cands = candidate_batch(cfg, [[CandidatePost(5, 7)], [CandidatePost(6, 8)]], num_slots=3)
    padded = pad_rows(cands, 5, axis=1)
    for before, after in zip(cands, padded, strict=True):
        if before is None:  # content inputs of a model without them
            assert after is None
            continue
        assert after.shape[1] == 5 and after.dtype == before.dtype
        np.testing.assert_array_equal(after[:, :3], before)
        assert not after[:, 3:].any()
    same = pad_rows(cands, 2, axis=0)
    assert all(a is b for a, b in zip(same, cands, strict=True))
