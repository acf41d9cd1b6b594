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

    Candidates whose score is ``None`` (a scorer degraded for them) sort last rather than
    failing the request.
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
            return (score is not None, score if score is not None else 0.0)

        return sorted(candidates, key=key, reverse=True)[: self.params.k]
