"""Batched, jitted scoring of many users at once, for validation and evaluation.

The serving wrappers (:class:`~phoenix_models.ranker.Ranker`,
:class:`~phoenix_models.retrieval.Retriever`) jit per instance; during training the params
change every validation, so these scorers jit the pure functions once and take params as an
argument. Inputs are cut into fixed-size blocks (the last one padded) so each function
compiles once.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from phoenix_models.batch import CandidateBatch, ContextBatch, PhoenixBatch
from phoenix_models.ranker import RankerNetwork
from phoenix_models.retrieval import RetrievalNetwork


def _blocks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _pad_block(arrays: Any, start: int, stop: int, size: int) -> Any:
    """Rows ``[start, stop)`` of every array, zero-padded to ``size`` rows (0 = padding)."""

    def take(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)[start:stop]
        return np.pad(a, [(0, size - a.shape[0])] + [(0, 0)] * (a.ndim - 1))

    return type(arrays)(*(None if a is None else take(a) for a in arrays))


class RetrievalScorer:
    """User and candidate embeddings from a retrieval network's pure functions."""

    def __init__(self, net: RetrievalNetwork, user_block: int = 128, item_block: int = 4096):
        self._user = jax.jit(net.user_embedding)
        self._item = jax.jit(net.candidate_embeddings)
        self._user_block, self._item_block = user_block, item_block

    def users(self, params: Any, context: ContextBatch) -> np.ndarray:
        """``[N, D]`` unit user embeddings."""
        n = np.asarray(context.user_hashes).shape[0]
        out = [
            np.asarray(self._user(params, _pad_block(context, a, b, self._user_block)))[: b - a]
            for a, b in _blocks(n, self._user_block)
        ]
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def items(
        self,
        params: Any,
        post_hashes: np.ndarray,
        author_hashes: np.ndarray,
        sids: np.ndarray | None = None,
        media: np.ndarray | None = None,
    ) -> np.ndarray:
        """``[I, D]`` unit candidate embeddings (``sids``/``media``: content inputs)."""
        size = self._item_block
        out = []
        for a, b in _blocks(post_hashes.shape[0], size):
            parts = [
                None
                if x is None
                else np.pad(x[a:b], [(0, size - (b - a))] + [(0, 0)] * (x.ndim - 1))
                for x in (post_hashes, author_hashes, sids, media)
            ]
            out.append(np.asarray(self._item(params, *parts))[: b - a])
        return np.concatenate(out)


class RankerScorer:
    """Action probabilities ``[N, C, A]`` from the ranker's full masked forward."""

    def __init__(self, net: RankerNetwork, block: int = 32):
        self._apply = jax.jit(lambda params, batch: jax.nn.sigmoid(net.apply(params, batch).logits))
        self._block = block

    def probabilities(
        self, params: Any, context: ContextBatch, candidates: CandidateBatch
    ) -> np.ndarray:
        n = np.asarray(context.user_hashes).shape[0]
        out = []
        for a, b in _blocks(n, self._block):
            batch = PhoenixBatch(
                context=_pad_block(context, a, b, self._block),
                candidates=_pad_block(candidates, a, b, self._block),
            )
            out.append(np.asarray(self._apply(params, batch))[: b - a])
        return np.concatenate(out)
