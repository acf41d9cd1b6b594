"""Scale down out-of-network posts so in-network posts keep their share of the feed."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from components.models import ForYouQuery, PostCandidate
from components.scorers.factors import lower_by_factor
from pipeline import Scorer, register


@register("oon")
class OutOfNetwork(Scorer[ForYouQuery, PostCandidate]):
    """Demotes posts by authors the viewer does not follow: ``score`` times ``factor`` (X's
    published value: 0.75) for a positive score, the same fraction lower for a negative one
    (:func:`~components.scorers.factors.lower_by_factor`). Writes the factor applied to
    ``oon_factor`` (1 for in-network posts) so a feed can explain itself."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        factor: float = Field(0.75, ge=0)

    reads = {"score", "in_network"}
    writes = {"score", "oon_factor"}

    def score(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[float | None]]:
        factors = [1.0 if c.in_network else self.params.factor for c in candidates]
        return {
            "score": [
                None if c.score is None else lower_by_factor(c.score, f)
                for c, f in zip(candidates, factors, strict=True)
            ],
            "oon_factor": factors,
        }
