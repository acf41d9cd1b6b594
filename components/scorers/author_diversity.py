"""Decay the scores of an author's later posts so one author cannot fill the feed."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from components.models import ForYouQuery, PostCandidate
from components.scorers.factors import lower_by_factor
from pipeline import Scorer, register


def diversity_multiplier(n: int, decay: float, floor: float) -> float:
    """Multiplier of an author's ``n``-th post (0 = best): ``(1 - floor) * decay**n + floor``."""
    return (1.0 - floor) * decay**n + floor


@register("author_diversity")
class AuthorDiversity(Scorer[ForYouQuery, PostCandidate]):
    """In ``weighted_score`` order, demotes the ``n``-th post of the same author by the factor
    ``(1 - floor) * decay**n + floor`` (a plain product for a positive score, the same
    fraction lower for a negative one: :func:`~components.scorers.factors.lower_by_factor`)
    and writes the result to ``score``, the factor to ``diversity_factor``. X's published
    values: decay 0.5, floor 0.25. Unscored candidates keep ``None``."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        decay: float = Field(0.5, ge=0, le=1)
        floor: float = Field(0.25, ge=0, le=1)

    reads = {"weighted_score"}
    writes = {"score", "diversity_factor"}

    def score(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[float | None]]:
        weighted = [c.weighted_score for c in candidates]
        order = sorted(
            (i for i, w in enumerate(weighted) if w is not None),
            key=weighted.__getitem__,
            reverse=True,
        )
        decay, floor = self.params.decay, self.params.floor
        seen: dict[int, int] = {}
        scores: list[float | None] = [None] * len(candidates)
        factors: list[float | None] = [None] * len(candidates)
        for i in order:
            author = candidates[i].author_id
            n = seen.get(author, 0)
            seen[author] = n + 1
            factors[i] = diversity_multiplier(n, decay, floor)
            scores[i] = lower_by_factor(weighted[i], factors[i])
        return {"score": scores, "diversity_factor": factors}
