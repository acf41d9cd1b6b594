"""What the ranker's per-candidate post inputs (engagement so far, safety label) share: a
known bucket moves the scores, "unknown" adds nothing, and the fast path equals the full
forward pass."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from phoenix_models.batch import CandidatePost, HistoryItem, candidate_batch, make_batch
from phoenix_models.config import ENGAGEMENT_VOCAB_SIZE, SAFETY_LABEL_VOCAB_SIZE, PhoenixConfig
from phoenix_models.ranker import Ranker

INPUTS = [
    pytest.param(
        "engagement_inputs", "engagement_embedding_table", ENGAGEMENT_VOCAB_SIZE, "engagement",
        {"impressions": 0}, {"impressions": 40, "engaged": 30}, id="engagement",
    ),
    pytest.param(
        "safety_label_inputs", "safety_label_embedding_table", SAFETY_LABEL_VOCAB_SIZE,
        "safety_label", {"safety_labels": ()}, {"safety_labels": ("spam",)}, id="safety_label",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("switch", "table", "rows", "field", "one", "other"), INPUTS)
def test_the_ranker_reads_the_bucket_and_unknown_reads_as_nothing(
    switch, table, rows, field, one, other
):
    config = PhoenixConfig.tiny(action_bias=True, **{switch: True})
    ranker = Ranker.init(config, seed=0)
    params = jax.tree_util.tree_map(np.asarray, ranker.params)
    assert params["phoenix_model"][table].shape == (rows, config.emb_size)
    history = [HistoryItem(5, 6, {0: 1.0})]
    unknown = CandidatePost(8, 9)
    posts = [unknown, dataclasses.replace(unknown, **one), dataclasses.replace(unknown, **other)]
    probs = ranker.score_user(1, history, posts)
    assert np.abs(probs[1] - probs[2]).max() > 1e-4  # the bucket moves the scores
    full = ranker.network.apply(ranker.params, make_batch(config, 1, history, posts))
    np.testing.assert_allclose(  # the cached-context fast path equals the full forward
        probs, jax.nn.sigmoid(full.logits)[0], rtol=1e-5, atol=1e-6
    )
    # "unknown" adds nothing: the same as a model without the input and the same weights
    plain = dataclasses.replace(config, **{switch: False})
    without = Ranker(plain, {k: dict(v) for k, v in ranker.params.items()})
    del without.params["phoenix_model"][table]
    np.testing.assert_allclose(
        without.score_user(1, history, [unknown])[0], probs[0], rtol=1e-5, atol=1e-6
    )
    assert getattr(candidate_batch(plain, [posts[2:]]), field) is None
