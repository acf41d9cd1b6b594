"""Drop the viewer's own posts."""

from __future__ import annotations

from collections.abc import Sequence

from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("self_post")
class SelfPost(Filter[ForYouQuery, PostCandidate]):
    """Removes posts the viewer wrote: a For-You feed recommends other people's posts."""

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        kept, removed = [], []
        for c in candidates:
            (removed if c.author_id == query.user_id else kept).append(c)
        return FilterResult(kept, removed)
