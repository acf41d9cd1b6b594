"""Scale down out-of-network posts so in-network posts keep their share of the feed."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from components.models import ForYouQuery, PostCandidate
from pipeline import Scorer, register


@register("oon")
class OutOfNetwork(Scorer[ForYouQuery, PostCandidate]):
    """Multiplies ``score`` of posts by authors the viewer does not follow by ``factor``
    (X's published value: 0.75)."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        factor: float = Field(0.75, ge=0)

    reads = {"score", "in_network"}
    writes = {"score"}

    def score(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[float | None]]:
        factor = self.params.factor
        return {
            "score": [
                c.score if c.score is None or c.in_network else c.score * factor for c in candidates
            ]
        }
