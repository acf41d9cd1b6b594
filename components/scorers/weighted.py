"""Combine the per-action probabilities into one score with X's published weights."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from itertools import chain
from typing import Literal

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

#: Candidate fields that can serve as ``positive_factor`` (floats, ``None`` when unset).
FACTOR_FIELDS = frozenset(
    f.name for f in dataclasses.fields(PostCandidate) if f.type == "float | None"
)


def weighted_parts(
    probabilities: np.ndarray, weights: np.ndarray, video_eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``sum_k w_k p_k`` per row, split into the positive weights' part and the negative
    weights' part (their sum is the weighted sum).

    ``probabilities`` is ``[C, A]``; ``video_eligible`` ``[C]`` zeroes the video-quality-view
    weight for posts that are not long enough videos.
    """
    weight_matrix = np.broadcast_to(weights, probabilities.shape).copy()  # [C, A]
    vqv = ACTION_INDEX["video_quality_view"]
    weight_matrix[:, vqv] *= video_eligible
    terms = probabilities * weight_matrix  # [C, A]
    positive = weights > 0
    return terms[:, positive].sum(axis=1), terms[:, ~positive].sum(axis=1)  # [C], [C]


def offset_negative(sums: np.ndarray, weights: np.ndarray, offset: float) -> np.ndarray:
    """X's negative-score offset: a positive sum is shifted up by ``offset``; a negative one
    is rescaled into ``[0, offset)``, so it stays below every positive score and keeps its
    order among negatives.

    The rescale divides by the sum of all weight magnitudes (411 for X's weights), so
    negative sums that differ by 1 end up 2.4e-6 apart: when most of a request's sums are
    negative, the later multiplicative scorers (x0.75, x0.5) decide the order, not the
    model. That is why ``negative_scores: signed`` exists.
    """
    negative_sum = -weights[weights < 0].sum()
    total = np.abs(weights).sum()
    if total == 0:
        return np.maximum(sums, 0.0)
    rescaled = (sums + negative_sum) / total * offset
    return np.where(sums < 0, rescaled, sums + offset)


@register("weighted")
class Weighted(Scorer[ForYouQuery, PostCandidate]):
    """``weighted_sum = sum of weight x probability over all actions``, and
    ``weighted_score`` = that sum under the ``negative_scores`` policy, with the positive
    weights' part multiplied by the candidate field ``positive_factor`` names, when set.

    Negative weights (not interested, block, mute, report) pull a post down; the
    video-quality-view weight counts only for videos longer than ``min_video_duration_s``.
    ``negative_scores``:

    * ``signed`` (the default): ``weighted_score`` is the sum itself. Negative scores stay
      below every positive one with their full resolution, and the demoting scorers after
      this one lower a score of either sign (:mod:`components.scorers.factors`).
    * ``offset``: X's published formula (:func:`offset_negative`), which squeezes every
      negative sum into ``[0, negative_score_offset)``.

    ``negative_weight_scale`` multiplies the negative weights, so a recipe can keep X's
    published weights verbatim and still say its viewers mind negative outcomes more: the
    demo world's For-You uses 2 (chosen on one sample of 200 demo viewers against the
    oracle, feed-quality ratio 0.805 -> 0.814, and confirmed on another, 0.794 -> 0.802;
    docs/for_you.md).

    ``positive_factor`` (e.g. ``engagement_factor``, written by ``engagement_prior``) scales
    what the post is expected to earn, not what it is expected to cost: evidence that a post
    engages more than the ranker could tell raises its positive actions' value, while the
    negative actions keep the ranker's estimate. Scaling the whole signed sum instead would
    treat a post's expected reports as if they were earnings (feed-quality ratio on 200
    demo viewers: 0.782 with the whole sum scaled, 0.794 with the positive part;
    docs/for_you.md). A factor of ``None`` counts as 1. ``weighted_sum`` is the sum
    without the factor, so ``--explain`` can show both.

    A candidate without Phoenix scores (the ranker degraded) keeps ``None``.
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
        negative_scores: Literal["signed", "offset"] = Field(
            "signed",
            description="signed: keep negative sums as they are; offset: X's published "
            "rescale of negative sums into [0, negative_score_offset)",
        )
        negative_score_offset: float = Field(
            0.001, gt=0, description="X's offset (used by negative_scores: offset)"
        )
        negative_weight_scale: float = Field(
            1.0,
            gt=0,
            description="multiplies every negative weight (1: the weights as given); how much "
            "more (or less) a feed's viewers mind what the negative actions stand for",
        )
        positive_factor: str | None = Field(
            None,
            description="candidate field whose value multiplies the positive weights' part "
            "(e.g. engagement_factor from the engagement_prior scorer); unset: no factor",
        )

        @field_validator("positive_factor")
        @classmethod
        def _float_field(cls, name: str | None) -> str | None:
            if name is not None and name not in FACTOR_FIELDS:
                raise ValueError(
                    f"{name!r} is not a float field of the candidate; expected one of: "
                    f"{', '.join(sorted(FACTOR_FIELDS))}"
                )
            return name

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
    writes = {"weighted_sum", "weighted_score"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        weights = np.array([self.params.weights.get(a, 0.0) for a in ACTIONS])
        scale = self.params.negative_weight_scale
        self._weights = np.where(weights < 0, weights * scale, weights)
        if self.params.positive_factor is not None:
            self.reads = frozenset(self.reads | {self.params.positive_factor})

    def score(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[float | None]]:
        scored = [i for i, c in enumerate(candidates) if c.phoenix_scores is not None]
        sums: list[float | None] = [None] * len(candidates)
        final: list[float | None] = [None] * len(candidates)
        if not scored:
            return {"weighted_sum": sums, "weighted_score": final}
        rows = [candidates[i].phoenix_scores for i in scored]
        width = len(rows[0])
        # np.fromiter over the flattened rows: np.array() on tuples is twice as slow.
        flat = np.fromiter(chain.from_iterable(rows), np.float64, count=len(rows) * width)
        probabilities = flat.reshape(len(rows), width)  # [C, A]
        minimum = self.params.min_video_duration_s
        video_eligible = np.array(
            [(candidates[i].video_duration_s or 0.0) > minimum for i in scored], dtype=float
        )
        positive, negative = weighted_parts(probabilities, self._weights, video_eligible)
        combined = positive + negative
        if self.params.positive_factor is not None:
            factor_field = self.params.positive_factor
            factors = np.array(
                [getattr(candidates[i], factor_field) for i in scored], dtype=np.float64
            )  # None -> nan
            positive = positive * np.where(np.isnan(factors), 1.0, factors)
        scores = positive + negative
        if self.params.negative_scores == "offset":
            scores = offset_negative(scores, self._weights, self.params.negative_score_offset)
        for i, total, score in zip(scored, combined.tolist(), scores.tolist(), strict=True):
            sums[i] = total
            final[i] = score
        return {"weighted_sum": sums, "weighted_score": final}
