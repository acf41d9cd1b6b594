"""How well a post has done so far, as a factor for its score: a smoothed engaged share."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from components.models import ForYouQuery, PostCandidate
from phoenix_models.engagement_prior import engagement_factor
from pipeline import Scorer, register


@register("engagement_prior")
class EngagementPrior(Scorer[ForYouQuery, PostCandidate]):
    """Writes the post's ``engagement_factor`` (``phoenix_models.engagement_prior``) of its
    engagement so far (``impressions`` / ``engaged``, from ``engagement_so_far_hydrator``);
    1 for a post whose counts are unknown. ``weighted`` (``positive_factor:
    engagement_factor``) then multiplies the positive actions' part of the score by it, so
    it runs before ``weighted`` and, through ``weighted_score``, before
    ``author_diversity``: an author's posts are ranked among themselves with it.

    Why a step of its own when the ranker reads the same counts: a post's own quality
    decides much of which posts belong at the top of a feed (on the demo world, ordering the
    pool by the ranker's score times the post's hidden quality lifts the feed-quality ratio
    from 0.79 to 0.89, ``benchmarks/feed_ceilings.py``), but it barely shows in the ranker's
    loss over logged impressions (the hidden quality alone ranks held-out favorites at AUC
    0.54), so the ranker learns to lean on the counts much less than the feed should
    (docs/for_you.md has the numbers).
    """

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        prior_share: float = Field(
            0.15, gt=0, le=1, description="engaged share of an average post (the prior mean)"
        )
        strength: float = Field(
            20.0,
            gt=0,
            description="pseudo-impressions of the prior (real ones needed to move it halfway)",
        )

    reads = {"impressions", "engaged"}
    writes = {"engagement_factor"}

    def score(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[float | None]]:
        known = [c.impressions is not None for c in candidates]
        factors = engagement_factor(  # one array call: this runs on every candidate
            [c.impressions if k else 0 for c, k in zip(candidates, known, strict=True)],
            [c.engaged or 0 for c in candidates],
            self.params.prior_share,
            self.params.strength,
        ).reshape(-1)
        return {
            "engagement_factor": [
                factor if k else 1.0 for factor, k in zip(factors.tolist(), known, strict=True)
            ]
        }
