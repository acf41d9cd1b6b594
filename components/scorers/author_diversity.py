"""Decay the scores of an author's later posts so one author cannot fill the feed."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from components.models import ForYouQuery, PostCandidate
from pipeline import Scorer, register


def diversity_multiplier(n: int, decay: float, floor: float) -> float:
    """Multiplier of an author's ``n``-th post (0 = best): ``(1 - floor) * decay**n + floor``."""
    return (1.0 - floor) * decay**n + floor


@register("author_diversity")
class AuthorDiversity(Scorer[ForYouQuery, PostCandidate]):
    """In ``weighted_score`` order, multiplies the ``n``-th post of the same author by
    ``(1 - floor) * decay**n + floor`` and writes the result to ``score``. X's published
    values: decay 0.5, floor 0.25. Unscored candidates keep ``None``."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        decay: float = Field(0.5, ge=0, le=1)
        floor: float = Field(0.25, ge=0, le=1)

    reads = {"weighted_score"}
    writes = {"score"}

    def score(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[float | None]]:
        order = sorted(
            (i for i, c in enumerate(candidates) if c.weighted_score is not None),
            key=lambda i: candidates[i].weighted_score,
            reverse=True,
        )
        seen: dict[int, int] = {}
        scores: list[float | None] = [None] * len(candidates)
        for i in order:
            c = candidates[i]
            n = seen.get(c.author_id, 0)
            seen[c.author_id] = n + 1
            scores[i] = c.weighted_score * diversity_multiplier(
                n, self.params.decay, self.params.floor
            )
        return {"score": scores}
