"""Two-tower retrieval: unit embeddings, batching with padding, attention mode."""

from __future__ import annotations

import numpy as np

from phoenix_models import HistoryItem, PhoenixConfig, Retriever, context_batch
from phoenix_models.hashing import hash_ids
from phoenix_models.params import random_params
from phoenix_models.retrieval import retrieval_network

CFG = PhoenixConfig.tiny()
PARAMS = random_params(retrieval_network(CFG).init, seed=2)
USERS = [
    (11, [HistoryItem(100 + i, 5, {i % 19: 1.0}) for i in range(12)]),  # longer than S
    (12, [HistoryItem(7, 8, {0: 1.0})]),
    (13, []),
]


def test_user_embeddings_are_unit_and_independent_of_batch_padding():
    retriever = Retriever(CFG, PARAMS)
    together = retriever.user_embeddings(context_batch(CFG, USERS))
    alone = np.stack([retriever.user_embedding(u, h) for u, h in USERS])

    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_candidate_embeddings_are_unit_and_ignore_padding_hashes():
    retriever = Retriever(CFG, PARAMS)
    emb = retriever.candidate_embeddings(np.array([5, 6, 5]), np.array([1, 2, 1]))

    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(emb[0], emb[2])
    posts = hash_ids(np.array([5]), CFG.item_hash)
    authors = hash_ids(np.array([1]), CFG.author_hash)
    with_padding = retriever.embed_hashes(
        np.concatenate([posts, [[0, 0]]]), np.concatenate([authors, [[0, 0]]])
    )
    np.testing.assert_allclose(with_padding[0], emb[0], atol=1e-6)


def test_bidirectional_history_attention_changes_the_user_tower():
    causal = Retriever(CFG, PARAMS).user_embedding(*USERS[0])
    both_ways = Retriever(PhoenixConfig.tiny(history_attention="bidirectional"), PARAMS)
    assert np.abs(both_ways.user_embedding(*USERS[0]) - causal).max() > 1e-3
