"""How good a served feed is, measured against the demo world's hidden truth.

The demo world knows every viewer's real engagement probability for every post (the
oracle, ``phoenix_models.data.engagement_gate``), so a feed can be scored the way an
offline evaluation never can: not "did the model predict the logged clicks" but "how much
of the best feed this pool allowed did the viewer get". :func:`measure_feed` turns one
served feed and the pool it was chosen from into those numbers; the benchmark
``benchmarks/feed_quality.py`` and the tests aggregate them over many viewers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class FeedQuality:
    """One viewer's feed, judged by the oracle.

    Attributes:
        mean_gain: mean oracle engagement probability of the served posts.
        ndcg: NDCG@k of the served order, the oracle probability as gain and the best
            ``k`` of the pool as the ideal.
        quality_ratio: ``mean_gain`` / the mean gain of the best ``k`` posts of the pool
            (1.0: the viewer got the best feed the pool allowed).
        oon_share: share of served posts from authors the viewer does not follow.
        distinct_authors: authors among the served posts.
        max_per_author: posts of the most frequent author.
        score_correlation: Spearman correlation of the final score with the oracle
            probability over the whole scored pool (``None`` without scores or variance).
    """

    mean_gain: float
    ndcg: float
    quality_ratio: float
    oon_share: float
    distinct_authors: int
    max_per_author: int
    score_correlation: float | None


def measure_feed(
    gains: np.ndarray,
    served: Sequence[int],
    in_network: np.ndarray,
    authors: np.ndarray,
    k: int,
    scores: np.ndarray | None = None,
) -> FeedQuality:
    """Judge the feed ``served`` (indices into the pool, in served order).

    ``gains``, ``in_network``, ``authors`` and ``scores`` are ``[P]`` arrays over the pool;
    a score of NaN (a scorer degraded for that post) is left out of the correlation.
    """
    served = np.asarray(served, dtype=np.int64)[:k]
    served_gains = gains[served]
    ideal = np.sort(gains)[::-1][:k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal_dcg = float(ideal @ discounts[: ideal.size])
    dcg = float(served_gains @ discounts[: served.size])
    best_mean = float(ideal.mean()) if ideal.size else 0.0
    mean_gain = float(served_gains.mean()) if served.size else 0.0
    _, per_author = np.unique(authors[served], return_counts=True)
    return FeedQuality(
        mean_gain=mean_gain,
        ndcg=dcg / ideal_dcg if ideal_dcg > 0 else 0.0,
        quality_ratio=mean_gain / best_mean if best_mean > 0 else 0.0,
        oon_share=float((~in_network[served]).mean()) if served.size else 0.0,
        distinct_authors=int(per_author.size),
        max_per_author=int(per_author.max()) if per_author.size else 0,
        score_correlation=None if scores is None else spearman(scores, gains),
    )


def random_order(pool_size: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """The baseline that knows nothing: ``k`` posts of the pool drawn at random."""
    return rng.permutation(pool_size)[:k]


def oracle_order(gains: np.ndarray, k: int) -> np.ndarray:
    """The ceiling: the ``k`` posts of the pool with the highest oracle probability."""
    return np.argsort(-gains, kind="stable")[:k]


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman rank correlation over the pairs where ``x`` is finite (ties share their
    average rank); ``None`` when fewer than two pairs or either side is constant."""
    keep = np.isfinite(x)
    x, y = x[keep], y[keep]
    if x.size < 2:
        return None
    rx, ry = _average_ranks(x), _average_ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse]


@dataclass(frozen=True, slots=True)
class ServedPool:
    """A request's scored pool and served feed as arrays, with the oracle's gains."""

    gains: np.ndarray  # [P] oracle engagement probability
    in_network: np.ndarray  # [P] bool
    authors: np.ndarray  # [P] int64
    scores: np.ndarray  # [P] final score, NaN where unscored
    served: np.ndarray  # [S] indices into the pool, served order


def served_pool(world: Any, user_id: int, result: Any, score_field: str) -> ServedPool:
    """The pool a For-You request chose from (every candidate that reached selection) and
    what it served, with each post's oracle engagement probability for ``user_id``."""
    from phoenix_models.data import engagement_gate

    pool = result.scored
    post_ids = np.array([c.id for c in pool], np.int64)
    position = {c.id: i for i, c in enumerate(pool)}
    scores = [getattr(c, score_field, None) for c in pool]
    return ServedPool(
        gains=engagement_gate(world, np.full(post_ids.size, user_id), post_ids),
        in_network=np.array([bool(c.in_network) for c in pool], bool),
        authors=np.array([c.author_id for c in pool], np.int64),
        scores=np.array([np.nan if s is None else s for s in scores], np.float64),
        served=np.array([position[c.id] for c in result.selected], np.int64),
    )
