"""Keep one candidate per underlying post when reposts are involved."""

from __future__ import annotations

from collections.abc import Sequence

from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("repost_dedup")
class RepostDedup(Filter[ForYouQuery, PostCandidate]):
    """A repost shows the post it reposts, so the original and its reposts (or two reposts
    of one post) would put the same content in the feed twice. Keeps the first candidate
    for each underlying post id."""

    reads = {"reposted_post_id"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        seen: set[int] = set()
        kept, removed = [], []
        for c in candidates:
            key = c.reposted_post_id if c.reposted_post_id is not None else c.id
            (removed if key in seen else kept).append(c)
            seen.add(key)
        return FilterResult(kept, removed)
