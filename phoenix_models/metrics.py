"""Evaluation metrics: per-action ROC-AUC and log loss, top-K ranking metrics, bootstrap CIs.

Ranking metrics work from the **rank of the target** among the ranked items (0 = first),
which is all a single-target protocol needs and keeps every metric exact and cheap:

* ``HR@K``      = 1 if rank < K
* ``NDCG@K``    = 1 / log2(rank + 2) if rank < K (one relevant item, so the ideal DCG is 1)
* ``Recall@K``  = hits in the top K / number of targets; with one target it equals HR@K
* ``MRR``       = 1 / (rank + 1), over the full ranking (no cut-off)

Ties are broken by item order (as a stable sort by descending score would list them), so a
constant scorer does not get credit for the target sitting in a tie.

Examples:
    >>> ranks = np.array([0, 4, 20])
    >>> float(ranking_metrics(ranks, ks=(10,))["HR@10"].mean())
    0.6666666666666666
    >>> round(float(roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))), 3)
    0.75
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.stats import rankdata


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); NaN with a single class."""
    labels = _as_binary(labels, "labels")
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in shape")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, probabilities clipped to ``[eps, 1 - eps]``."""
    labels = _as_binary(labels, "labels")
    probs = np.asarray(probs, dtype=np.float64)
    if labels.shape != probs.shape:
        raise ValueError(f"labels {labels.shape} and probs {probs.shape} differ in shape")
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise ValueError("probs must lie in [0, 1]")
    p = np.clip(probs, eps, 1 - eps)
    return float(-np.mean(np.where(labels, np.log(p), np.log1p(-p))))


def per_action_metrics(
    labels: np.ndarray, probs: np.ndarray, names: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """``{action: {"auc", "log_loss", "positives"}}`` for ``[N, A]`` labels and probabilities."""
    if labels.shape != probs.shape or labels.ndim != 2 or labels.shape[1] != len(names):
        raise ValueError(
            f"need labels and probs of shape [N, {len(names)}], got {labels.shape} and "
            f"{probs.shape}"
        )
    return {
        name: {
            "auc": roc_auc(labels[:, k], probs[:, k]),
            "log_loss": log_loss(labels[:, k], probs[:, k]),
            "positives": int(np.asarray(labels[:, k]).sum()),
        }
        for k, name in enumerate(names)
    }


def target_ranks(scores: np.ndarray, target: np.ndarray, excluded: np.ndarray | None) -> np.ndarray:
    """Rank (0 = first) of ``target[e]`` in row ``e`` of ``scores``, skipping excluded items.

    Args:
        scores: ``[E, I]`` scores over the catalogue, higher is better.
        target: ``[E]`` column index of each row's target.
        excluded: ``[E, I]`` bool, True for items not to rank (the target must not be one).
    """
    scores = np.asarray(scores)
    target = np.asarray(target, dtype=np.int64)
    if scores.ndim != 2 or target.shape != (scores.shape[0],):
        raise ValueError(f"need scores [E, I] and target [E], got {scores.shape}, {target.shape}")
    if target.size and (target.min() < 0 or target.max() >= scores.shape[1]):
        raise ValueError(f"target indices must lie in [0, {scores.shape[1]})")
    rows = np.arange(target.size)
    if excluded is not None and excluded[rows, target].any():
        raise ValueError("a target is among its row's excluded items")
    target_score = scores[rows, target][:, None]
    before = (scores > target_score) | (
        (scores == target_score) & (np.arange(scores.shape[1])[None, :] < target[:, None])
    )
    if excluded is not None:
        before &= ~excluded
    return before.sum(axis=1)


def ranking_metrics(ranks: np.ndarray, ks: tuple[int, ...] = (10,)) -> dict[str, np.ndarray]:
    """Per-user ``HR@K``, ``NDCG@K``, ``Recall@K`` for each K, and ``MRR``, from target ranks."""
    ranks = np.asarray(ranks)
    if ranks.size and ranks.min() < 0:
        raise ValueError("ranks must be >= 0")
    out: dict[str, np.ndarray] = {}
    for k in ks:
        hit = ranks < k
        out[f"HR@{k}"] = hit.astype(np.float64)
        out[f"NDCG@{k}"] = np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)
        out[f"Recall@{k}"] = hit.astype(np.float64)
    out["MRR"] = 1.0 / (ranks + 1.0)
    return out


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean with its percentile bootstrap interval."""

    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci95": [self.low, self.high]}


def bootstrap_ci(
    values: np.ndarray, n_resamples: int = 1_000, seed: int = 0, level: float = 0.95
) -> Estimate:
    """Mean of per-user ``values`` with a percentile bootstrap interval over users."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"need a non-empty 1-D array of per-user values, got {values.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Estimate(float(values.mean()), float(low), float(high))


def _as_binary(labels: np.ndarray, what: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype != bool:
        if labels.size and not np.isin(labels, (0, 1)).all():
            raise ValueError(f"{what} must be 0/1 or bool")
        labels = labels.astype(bool)
    return labels
