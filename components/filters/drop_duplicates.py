"""Drop repeated candidate ids (two sources can find the same post)."""

from __future__ import annotations

from collections.abc import Sequence

from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("drop_duplicates")
class DropDuplicates(Filter[ForYouQuery, PostCandidate]):
    """Keeps the first candidate with each id; sources are concatenated in recipe order,
    so the earlier source (Thunder in ``for_you.yaml``) wins."""

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        seen: set[int] = set()
        kept, removed = [], []
        for c in candidates:
            (removed if c.id in seen else kept).append(c)
            seen.add(c.id)
        return FilterResult(kept, removed)
