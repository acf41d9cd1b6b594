"""Generic components every feed needs, registered with the framework itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.registry import register
from pipeline.selector import Selector


@register("top_k")
class TopK(Selector):
    """Keep the ``k`` candidates with the highest ``score_field``, best first.

    Candidates whose score is ``None`` (a scorer degraded for them) or NaN sort below every
    number rather than failing the request; ties (NaN and ``None`` included) keep their input
    order, so the ranking is deterministic.

    Examples:
        >>> from types import SimpleNamespace as C
        >>> pool = [C(id=1, score=0.1), C(id=2, score=float("nan")), C(id=3, score=0.9),
        ...         C(id=4, score=None), C(id=5, score=0.5)]
        >>> [c.id for c in TopK(k=5).select(None, pool)]
        [3, 5, 1, 2, 4]
    """

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        k: int = Field(35, ge=1, description="how many candidates to keep")
        score_field: str = Field("score", description="candidate field to sort by, descending")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = frozenset({self.params.score_field})

    def select(self, query: Any, candidates: Sequence[Any]) -> list[Any]:
        field = self.params.score_field

        def key(candidate: Any) -> tuple[bool, float]:
            score = getattr(candidate, field)
            if score is None or score != score:  # None or NaN: below every number
                return (False, 0.0)
            return (True, score)

        return sorted(candidates, key=key, reverse=True)[: self.params.k]
