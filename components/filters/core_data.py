"""Drop candidates whose core data could not be hydrated."""

from __future__ import annotations

from collections.abc import Sequence

from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("core_data")
class CoreData(Filter[ForYouQuery, PostCandidate]):
    """Removes candidates without text or creation time: the post is gone (deleted, or
    unknown to the catalog), and nothing downstream can judge or show it."""

    reads = {"text", "created_at"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        kept, removed = [], []
        for c in candidates:
            (kept if c.text is not None and c.created_at is not None else removed).append(c)
        return FilterResult(kept, removed)
