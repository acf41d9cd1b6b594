"""Fake rankers for testing a For-You feed without a trained model.

They implement the ranking interface of :data:`components.resources.RANKER`
(``predict(user_id, history, candidates, now) -> [C, 19]``), so a test or a benchmark puts
one in ``resources`` where :class:`~components.phoenix.PhoenixRanking` would go. Like
httpx's ``MockTransport``, they ship with the library so users need no mocking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from components.models import ACTIONS, Engagement, PostCandidate


class OracleRanker:
    """Scores every candidate with the demo world's hidden truth
    (``phoenix_models.data.oracle_probabilities``): the best ranker there can be, so a
    feed served with it shows what the rest of the pipeline (weights, demotions,
    filters) makes of perfect predictions."""

    def __init__(self, world: Any) -> None:
        self.world = world

    @classmethod
    def without_post_quality(cls, world: Any) -> OracleRanker:
        """The oracle of ``phoenix_models.data.without_post_quality(world)``: all a ranker
        could know from the viewer, the author and the post's content, without the
        post's engagement so far (the one input that tells its quality)."""
        from phoenix_models.data import without_post_quality

        return cls(without_post_quality(world))

    def predict(
        self,
        user_id: int,
        history: Sequence[Engagement],
        candidates: Sequence[PostCandidate],
        now: float,
    ) -> np.ndarray:
        from phoenix_models.data import oracle_probabilities

        post_ids = np.array([c.id for c in candidates], np.int64)
        users = np.full(post_ids.size, user_id, np.int64)
        return oracle_probabilities(self.world, users, post_ids)  # [C, 19]


class ConstantRanker:
    """The same probability for every action of every candidate: a ranker that knows
    nothing, to test what a feed falls back to when scores tie."""

    def __init__(self, probability: float = 0.05) -> None:
        self.probability = probability

    def predict(
        self,
        user_id: int,
        history: Sequence[Engagement],
        candidates: Sequence[PostCandidate],
        now: float,
    ) -> np.ndarray:
        return np.full((len(candidates), len(ACTIONS)), self.probability)
