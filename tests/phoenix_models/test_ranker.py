"""The cached-context fast path against the slow, obvious full masked forward."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phoenix_models import (
    CandidatePost,
    HistoryItem,
    PhoenixConfig,
    Ranker,
    candidate_batch,
    context_batch,
)
from phoenix_models.batch import PhoenixBatch
from phoenix_models.params import random_params
from phoenix_models.ranker import ranker_network

CFG = PhoenixConfig.tiny()
PARAMS = random_params(ranker_network(CFG).init, seed=1)


def _users(rng: np.random.Generator, lengths: list[int]) -> list[tuple[int, list[HistoryItem]]]:
    users = []
    for n in lengths:
        history = [
            HistoryItem(
                post_id=int(rng.integers(1, 2**40)),
                author_id=int(rng.integers(1, 2**40)),
                actions={int(a): 1.0 for a in rng.choice(19, size=rng.integers(0, 4))},
                product_surface=int(rng.integers(0, 16)),
                dwell_seconds=float(rng.uniform(0, 60)),
            )
            for _ in range(n)
        ]
        users.append((int(rng.integers(1, 2**40)), history))
    return users


def _candidates(rng: np.random.Generator, counts: list[int]) -> list[list[CandidatePost]]:
    return [
        [
            CandidatePost(
                post_id=int(rng.integers(1, 2**40)),
                author_id=int(rng.integers(1, 2**40)),
                product_surface=int(rng.integers(0, 16)),
                age_minutes=None if rng.random() < 0.2 else float(rng.uniform(0, 6000)),
            )
            for _ in range(n)
        ]
        for n in counts
    ]


@pytest.fixture(scope="module")
def padded_batch() -> PhoenixBatch:
    """Three users: full, partial and empty history; 7, 3 and 0 real candidates of 7."""
    rng = np.random.default_rng(0)
    return PhoenixBatch(
        context_batch(CFG, _users(rng, [CFG.history_seq_len + 2, 3, 0])),
        candidate_batch(CFG, _candidates(rng, [7, 3, 0])),
    )


@pytest.mark.parametrize("history_attention", ["causal", "bidirectional"])
@pytest.mark.parametrize("position_mode", ["default", "right_anchored"])
def test_fast_path_equals_full_masked_forward(padded_batch, position_mode, history_attention):
    cfg = PhoenixConfig.tiny(position_mode=position_mode, history_attention=history_attention)
    net = ranker_network(cfg)
    c = padded_batch.candidates.post_hashes.shape[1]

    full = jax.jit(net.apply)(PARAMS, padded_batch)
    context = jax.jit(net.encode_context)(PARAMS, padded_batch.context)
    slots = jnp.arange(c)[None]
    fast = jax.jit(net.score_candidates)(PARAMS, context, padded_batch.candidates, slots)

    real = np.asarray(padded_batch.candidates.mask)
    assert np.abs(np.asarray(full.logits - fast.logits))[real].max() <= 1e-5
    assert np.abs(np.asarray(full.continuous - fast.continuous))[real].max() <= 1e-5


def test_serving_wrapper_matches_full_forward_with_sequential_slots(padded_batch):
    probs = Ranker(CFG, PARAMS).score(padded_batch, slots="sequential")
    expected = jax.nn.sigmoid(jax.jit(ranker_network(CFG).apply)(PARAMS, padded_batch).logits)
    real = np.asarray(padded_batch.candidates.mask)
    assert probs.shape == (3, 7, 19)
    assert np.abs(probs - np.asarray(expected))[real].max() <= 1e-5


def test_chunked_slots_restart_positions_every_candidate_seq_len():
    rng = np.random.default_rng(1)
    ranker = Ranker(CFG, PARAMS)
    ((user, history),) = _users(rng, [4])
    first = _candidates(rng, [CFG.candidate_seq_len])[0]

    probs = ranker.score_user(user, history, first + first, slots="chunked")

    np.testing.assert_allclose(probs[: len(first)], probs[len(first) :], atol=1e-6)


def test_default_positions_make_scores_depend_on_slot_and_right_anchored_do_not():
    rng = np.random.default_rng(2)
    ((user, history),) = _users(rng, [5])
    cands = _candidates(rng, [6])[0]
    for mode, moved in (("default", True), ("right_anchored", False)):
        ranker = Ranker(PhoenixConfig.tiny(position_mode=mode), PARAMS)
        forward = ranker.score_user(user, history, cands, slots="sequential")
        backward = ranker.score_user(user, history, cands[::-1], slots="sequential")[::-1]
        assert (np.abs(forward - backward).max() > 1e-3) is moved


def test_scoring_in_pieces_equals_one_call():
    rng = np.random.default_rng(3)
    ranker = Ranker(CFG, PARAMS)
    context = ranker.encode(context_batch(CFG, _users(rng, [6])))
    cands = candidate_batch(CFG, _candidates(rng, [10]))
    head = type(cands)(*(a[:, :4] for a in cands))
    tail = type(cands)(*(a[:, 4:] for a in cands))

    whole = ranker.score_context(context, cands, slots="sequential")
    pieces = np.concatenate(
        [
            ranker.score_context(context, head, slots="sequential"),
            ranker.score_context(context, tail, slots="sequential", first_slot=4),
        ],
        axis=1,
    )

    np.testing.assert_allclose(whole, pieces, atol=1e-6)


def test_new_candidate_counts_inside_a_bucket_do_not_recompile():
    rng = np.random.default_rng(4)
    ranker = Ranker(CFG, PARAMS)
    ((user, history),) = _users(rng, [3])
    ranker.score_user(user, history, _candidates(rng, [9])[0])
    compiled = ranker._score._cache_size()

    for n in (10, 11, 12):  # all in the 12-slot bucket
        ranker.score_user(user, history, _candidates(rng, [n])[0])

    assert ranker._score._cache_size() == compiled


def test_bfloat16_compute_stays_close_to_float32(padded_batch):
    f32 = Ranker(CFG, PARAMS).score(padded_batch)
    bf16 = Ranker(PhoenixConfig.tiny(dtype="bfloat16"), PARAMS).score(padded_batch)
    real = np.asarray(padded_batch.candidates.mask)
    assert np.abs(f32 - bf16)[real].max() < 0.05


def test_gradients_reach_every_parameter(padded_batch):
    net = ranker_network(CFG)
    labels = (np.random.default_rng(5).random((3, 7, 19)) < 0.3).astype(np.float32)

    def loss(params):
        out = net.apply(params, padded_batch)
        weights = np.asarray(padded_batch.candidates.mask, np.float32)[..., None]
        bce = optax.sigmoid_binary_cross_entropy(out.logits, labels)
        return (bce * weights).mean() + (out.continuous * weights).mean()

    value, grads = jax.jit(jax.value_and_grad(loss))(PARAMS)

    assert np.isfinite(value)
    norms = {f"{m}/{n}": float(jnp.linalg.norm(g)) for m, d in grads.items() for n, g in d.items()}
    assert all(norm > 0 for norm in norms.values()), [k for k, v in norms.items() if v == 0]


def test_numpy_init_has_the_shapes_of_the_haiku_init():
    shapes = jax.eval_shape(ranker_network(CFG).init, jax.random.PRNGKey(0))
    assert jax.tree.map(jnp.shape, shapes) == jax.tree.map(jnp.shape, PARAMS)
