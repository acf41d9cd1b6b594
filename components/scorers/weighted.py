"""Combine the per-action probabilities into one score with X's published weights."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from components.models import ACTION_INDEX, ACTIONS, ForYouQuery, PostCandidate
from pipeline import Scorer, register

PUBLISHED_WEIGHTS: dict[str, float] = {
    "favorite": 0.5,
    "reply": 5.0,
    "repost": 1.0,
    "photo_expand": 0.05,
    "click": 0.4,
    "profile_click": 0.0,
    "video_quality_view": 0.05,
    "share": 2.0,
    "share_via_dm": 5.0,
    "share_via_copy_link": 20.0,
    "dwell": 0.0,
    "quote": 5.0,
    "quoted_click": 0.05,
    "follow_author": 4.0,
    "not_interested": -43.2,
    "block_author": -31.2,
    "mute_author": -58.8,
    "report": -234.0,
    "dwell_time": 0.004,
}
"""X's action weights (August 2026 ``home-mixer`` params, DESIGN.md "Published defaults")."""


def combine(
    probabilities: np.ndarray,
    weights: np.ndarray,
    video_eligible: np.ndarray,
    negative_score_offset: float,
) -> np.ndarray:
    """``sum_k w_k p_k`` per row, then X's offset: a positive sum is shifted up by the
    offset; a negative one is rescaled into ``[0, offset)``, so it stays below every
    positive score yet keeps its order among negatives.

    ``probabilities`` is ``[C, A]``; ``video_eligible`` ``[C]`` zeroes the video-quality-view
    weight for posts that are not long enough videos.
    """
    weight_matrix = np.broadcast_to(weights, probabilities.shape).copy()  # [C, A]
    vqv = ACTION_INDEX["video_quality_view"]
    weight_matrix[:, vqv] *= video_eligible
    combined = (probabilities * weight_matrix).sum(axis=1)  # [C]
    negative_sum = -weights[weights < 0].sum()
    total = np.abs(weights).sum()
    if total == 0:
        return np.maximum(combined, 0.0)
    rescaled = (combined + negative_sum) / total * negative_score_offset
    return np.where(combined < 0, rescaled, combined + negative_score_offset)


@register("weighted")
class Weighted(Scorer[ForYouQuery, PostCandidate]):
    """``weighted_score = offset(sum of weight x probability over all actions)``.

    Negative weights (not interested, block, mute, report) pull a post down; the
    video-quality-view weight counts only for videos longer than ``min_video_duration_s``;
    a negative sum is offset and rescaled below every positive one (:func:`combine`). A
    candidate without Phoenix scores (the ranker degraded) keeps ``None``.
    """

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        weights: dict[str, float] = Field(
            default_factory=lambda: dict(PUBLISHED_WEIGHTS),
            description="weight per action; actions left out weigh 0",
        )
        min_video_duration_s: float = Field(
            10.0, ge=0, description="videos at most this long get no video-quality-view weight"
        )
        negative_score_offset: float = Field(0.001, gt=0)

        @field_validator("weights")
        @classmethod
        def _known_actions(cls, weights: dict[str, float]) -> dict[str, float]:
            unknown = sorted(set(weights) - set(ACTIONS))
            if unknown:
                raise ValueError(
                    f"unknown action(s) {unknown}; expected names from: {', '.join(ACTIONS)}"
                )
            return weights

    reads = {"phoenix_scores", "video_duration_s"}
    writes = {"weighted_score"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._weights = np.array([self.params.weights.get(a, 0.0) for a in ACTIONS])

    def score(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[float | None]]:
        scored = [i for i, c in enumerate(candidates) if c.phoenix_scores is not None]
        result: list[float | None] = [None] * len(candidates)
        if not scored:
            return {"weighted_score": result}
        rows = [candidates[i].phoenix_scores for i in scored]
        width = len(rows[0])
        # np.fromiter over the flattened rows: np.array() on tuples is twice as slow.
        flat = np.fromiter(chain.from_iterable(rows), np.float64, count=len(rows) * width)
        probabilities = flat.reshape(len(rows), width)  # [C, A]
        minimum = self.params.min_video_duration_s
        video_eligible = np.array(
            [(candidates[i].video_duration_s or 0.0) > minimum for i in scored], dtype=float
        )
        combined = combine(
            probabilities, self._weights, video_eligible, self.params.negative_score_offset
        )
        for i, value in zip(scored, combined.tolist(), strict=True):
            result[i] = value
        return {"weighted_score": result}
