"""Drop posts older than a maximum age."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("age")
class Age(Filter[ForYouQuery, PostCandidate]):
    """Removes posts created more than ``max_age_s`` before the request time. A request may
    lower or raise the limit with ``query.params["max_age_s"]``; :meth:`max_age_s` says which
    limit applies."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        max_age_s: float = Field(172_800.0, gt=0, description="X's published value: 48 h")

    reads = {"created_at"}

    def max_age_s(self, query: ForYouQuery) -> float:
        return float(query.params.get("max_age_s", self.params.max_age_s))

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        oldest = query.request_time - self.max_age_s(query)
        kept, removed = [], []
        for c in candidates:
            (kept if c.created_at is not None and c.created_at >= oldest else removed).append(c)
        return FilterResult(kept, removed)
