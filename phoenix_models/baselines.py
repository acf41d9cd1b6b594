"""Baselines the Phoenix models are compared with: MostPopular and implicit's ALS.

Both fit on positive interactions ``(user_id, item_index)`` over a catalogue of ``n_items``
and score the whole catalogue for a list of users, so the evaluation code ranks their output
exactly as it ranks the Phoenix models'.

Examples:
    >>> popular = MostPopular.fit(np.array([1, 2, 2]), np.array([0, 2, 2]), n_items=3)
    >>> popular.score(np.array([7])).tolist()
    [[1.0, 0.0, 2.0]]
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits


@dataclasses.dataclass(frozen=True, eq=False)
class MostPopular:
    """Scores every item by how many training positives it has, the same for every user."""

    counts: np.ndarray  # [I] float32

    @classmethod
    def fit(cls, user_ids: np.ndarray, item_index: np.ndarray, n_items: int) -> MostPopular:
        _check_interactions(user_ids, item_index, n_items)
        return cls(np.bincount(item_index, minlength=n_items).astype(np.float32))

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """``[E, I]`` scores (one row per user)."""
        return np.broadcast_to(self.counts, (len(user_ids), self.counts.size)).copy()


@dataclasses.dataclass(frozen=True)
class AlsConfig:
    """Hyper-parameters of implicit's ``AlternatingLeastSquares`` (confidence 1 + alpha)."""

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 1.0
    iterations: int = 15


ALS_GRID: dict[str, tuple] = {
    "factors": (32, 64, 128),
    "regularization": (0.01, 0.1, 1.0),
    "alpha": (1.0, 5.0, 20.0),
}
"""The small grid ALS is tuned over on the validation phase (27 fits, a few seconds each)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Als:
    """A fitted ALS model: user factors for the users seen in training, item factors."""

    config: AlsConfig
    user_ids: np.ndarray  # [U] ascending ids with a factor row
    user_factors: np.ndarray  # [U, F]
    item_factors: np.ndarray  # [I, F]

    @classmethod
    def fit(
        cls,
        user_ids: np.ndarray,
        item_index: np.ndarray,
        n_items: int,
        config: AlsConfig = AlsConfig(),
        seed: int = 0,
    ) -> Als:
        """Fits on binary positives; deterministic for a given seed (single-threaded)."""
        _check_interactions(user_ids, item_index, n_items)
        from implicit.cpu.als import AlternatingLeastSquares

        users, rows = np.unique(user_ids, return_inverse=True)
        matrix = sp.csr_matrix(
            (np.ones(rows.size, np.float32), (rows, item_index)), shape=(users.size, n_items)
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        # implicit runs slower (and warns, when built) if BLAS spawns threads under its own.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=config.factors,
                regularization=config.regularization,
                alpha=config.alpha,
                iterations=config.iterations,
                num_threads=1,
                random_state=seed,
            )
            model.fit(matrix, show_progress=False)
        return cls(config, users, np.asarray(model.user_factors), np.asarray(model.item_factors))

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """``[E, I]`` dot-product scores; a user unseen in training scores all zeros."""
        user_ids = np.asarray(user_ids)
        rows = np.minimum(np.searchsorted(self.user_ids, user_ids), self.user_ids.size - 1)
        known = self.user_ids[rows] == user_ids
        scores = self.user_factors[rows] @ self.item_factors.T
        scores[~known] = 0.0
        return scores


def tune_als(
    fit_and_score: Callable[[AlsConfig], float],
    grid: dict[str, Iterable] = ALS_GRID,
    iterations: int = 15,
) -> tuple[AlsConfig, list[tuple[AlsConfig, float]]]:
    """Grid search: returns the config with the best validation score, and every trial.

    ``fit_and_score`` fits on the validation phase's training data and returns the metric
    to maximise on the validation targets, so the test targets never influence the choice.
    """
    unknown = set(grid) - {"factors", "regularization", "alpha"}
    if unknown:
        raise ValueError(
            f"unknown ALS grid keys {sorted(unknown)}; expected factors, regularization, alpha"
        )
    names = list(grid)
    trials = []
    for values in itertools.product(*(grid[n] for n in names)):
        config = AlsConfig(iterations=iterations, **dict(zip(names, values, strict=True)))
        trials.append((config, float(fit_and_score(config))))
    best = max(trials, key=lambda trial: trial[1])[0]
    return best, trials


def _check_interactions(user_ids: np.ndarray, item_index: np.ndarray, n_items: int) -> None:
    if np.shape(user_ids) != np.shape(item_index) or np.ndim(item_index) != 1:
        raise ValueError(
            f"user_ids and item_index must be 1-D of equal length, got {np.shape(user_ids)} "
            f"and {np.shape(item_index)}"
        )
    if len(item_index) and (np.min(item_index) < 0 or np.max(item_index) >= n_items):
        raise ValueError(f"item_index must lie in [0, {n_items})")
