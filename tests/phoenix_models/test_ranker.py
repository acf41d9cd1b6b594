"""The cached-context fast path against the slow, obvious full masked forward.

Shapes are kept to few buckets (3 users x 8 slots, or 1 user x 8 slots) so the suite
compiles few programs.
"""

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
SLOTS = 8


def make_users(rng: np.random.Generator, lengths: list[int]) -> list[tuple[int, list]]:
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


def make_candidates(rng: np.random.Generator, n: int) -> list[CandidatePost]:
    return [
        CandidatePost(
            post_id=int(rng.integers(1, 2**40)),
            author_id=int(rng.integers(1, 2**40)),
            product_surface=int(rng.integers(0, 16)),
            age_minutes=None if rng.random() < 0.2 else float(rng.uniform(0, 6000)),
        )
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def padded_batch() -> PhoenixBatch:
    """Three users: over-long, partial and empty history; 7, 3 and 0 candidates in 8 slots."""
    rng = np.random.default_rng(0)
    return PhoenixBatch(
        context_batch(CFG, make_users(rng, [CFG.history_seq_len + 2, 3, 0])),
        candidate_batch(CFG, [make_candidates(rng, n) for n in (7, 3, 0)], num_slots=SLOTS),
    )


@pytest.mark.parametrize(
    ("position_mode", "history_attention"),
    [("default", "causal"), ("right_anchored", "bidirectional")],
)
def test_fast_path_logits_equal_full_masked_forward(padded_batch, position_mode, history_attention):
    cfg = PhoenixConfig.tiny(position_mode=position_mode, history_attention=history_attention)
    net = ranker_network(cfg)

    full = jax.jit(net.apply)(PARAMS, padded_batch)
    context = jax.jit(net.encode_context)(PARAMS, padded_batch.context)
    slots = jnp.broadcast_to(jnp.arange(SLOTS), (3, SLOTS))
    fast = jax.jit(net.score_candidates)(PARAMS, context, padded_batch.candidates, slots)

    real = np.asarray(padded_batch.candidates.mask)
    assert np.abs(np.asarray(full.logits - fast.logits))[real].max() <= 1e-5
    assert np.abs(np.asarray(full.continuous - fast.continuous))[real].max() <= 1e-5
    assert np.asarray(full.logits)[real].std() > 0.1  # not a comparison of constants


def test_ranker_score_equals_full_forward_probabilities(padded_batch):
    probs = Ranker(CFG, PARAMS).score(padded_batch, slots="sequential")

    expected = jax.nn.sigmoid(jax.jit(ranker_network(CFG).apply)(PARAMS, padded_batch).logits)
    real = np.asarray(padded_batch.candidates.mask)
    assert probs.shape == (3, SLOTS, 19)
    assert np.abs(probs - np.asarray(expected))[real].max() <= 1e-5


def test_chunked_slots_restart_positions_every_candidate_seq_len():
    rng = np.random.default_rng(1)
    ((user, history),) = make_users(rng, [4])
    chunk = make_candidates(rng, CFG.candidate_seq_len)

    probs = Ranker(CFG, PARAMS).score_user(user, history, chunk + chunk, slots="chunked")

    np.testing.assert_allclose(probs[: len(chunk)], probs[len(chunk) :], atol=1e-6)


@pytest.mark.parametrize(
    ("position_mode", "slot_dependent"), [("default", True), ("right_anchored", False)]
)
def test_only_default_positions_make_scores_depend_on_slot(position_mode, slot_dependent):
    rng = np.random.default_rng(2)
    ((user, history),) = make_users(rng, [5])
    cands = make_candidates(rng, 6)
    ranker = Ranker(
        PhoenixConfig.tiny(position_mode=position_mode, history_attention="bidirectional"), PARAMS
    )

    forward = ranker.score_user(user, history, cands, slots="sequential")
    backward = ranker.score_user(user, history, cands[::-1], slots="sequential")[::-1]

    assert bool(np.abs(forward - backward).max() > 1e-3) is slot_dependent


def test_scoring_in_pieces_equals_one_call():
    rng = np.random.default_rng(3)
    ranker = Ranker(CFG, PARAMS)
    context = ranker.encode(context_batch(CFG, make_users(rng, [6])))
    cands = candidate_batch(CFG, [make_candidates(rng, SLOTS)])
    head = type(cands)(*(None if a is None else a[:, :3] for a in cands))
    tail = type(cands)(*(None if a is None else a[:, 3:] for a in cands))

    whole = ranker.score_context(context, cands, slots="sequential")
    pieces = np.concatenate(
        [
            ranker.score_context(context, head, slots="sequential"),
            ranker.score_context(context, tail, slots="sequential", first_slot=3),
        ],
        axis=1,
    )

    np.testing.assert_allclose(whole, pieces, atol=1e-6)


def test_new_candidate_counts_inside_a_bucket_do_not_recompile():
    rng = np.random.default_rng(4)
    ranker = Ranker(CFG, PARAMS)
    ((user, history),) = make_users(rng, [3])
    ranker.score_user(user, history, make_candidates(rng, 5))
    compiled = ranker._score._cache_size()

    for n in (1, 6, 7, 8):  # all padded to the 8-slot bucket
        assert ranker.score_user(user, history, make_candidates(rng, n)).shape == (n, 19)

    assert ranker._score._cache_size() == compiled


def test_bfloat16_compute_stays_close_to_float32(padded_batch):
    f32 = Ranker(CFG, PARAMS).score(padded_batch)
    bf16 = Ranker(PhoenixConfig.tiny(dtype="bfloat16"), PARAMS).score(padded_batch)

    real = np.asarray(padded_batch.candidates.mask)
    assert np.abs(f32 - bf16)[real].max() < 0.05


def test_gradients_reach_every_parameter(padded_batch):
    net = ranker_network(CFG)
    labels = (np.random.default_rng(5).random((3, SLOTS, 19)) < 0.3).astype(np.float32)
    weights = np.asarray(padded_batch.candidates.mask, np.float32)[..., None]

    def loss(params):
        out = net.apply(params, padded_batch)
        bce = optax.sigmoid_binary_cross_entropy(out.logits, labels)
        return (bce * weights).mean() + (out.continuous * weights).mean()

    value, grads = jax.jit(jax.value_and_grad(loss))(PARAMS)

    assert np.isfinite(value)
    zero = [f"{m}/{n}" for m, d in grads.items() for n, g in d.items() if not np.any(g)]
    assert not zero


def test_numpy_init_has_the_shapes_of_the_haiku_init():
    shapes = jax.eval_shape(ranker_network(CFG).init, jax.random.PRNGKey(0))
    assert jax.tree.map(jnp.shape, shapes) == jax.tree.map(jnp.shape, PARAMS)


def test_warm_up_compiles_the_buckets_that_requests_then_use():
    rng = np.random.default_rng(6)
    ranker = Ranker(CFG, PARAMS)
    ranker.warm_up(candidate_counts=(7,), users=(1,))
    compiled = ranker._score._cache_size()

    ((user, history),) = make_users(rng, [2])
    ranker.score_user(user, history, make_candidates(rng, 7))

    assert ranker._score._cache_size() == compiled
