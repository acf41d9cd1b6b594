"""Drop posts whose author (or reposted/quoted author) the viewer blocked or muted."""

from __future__ import annotations

from collections.abc import Sequence

from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("author_social_graph")
class AuthorSocialGraph(Filter[ForYouQuery, PostCandidate]):
    """Removes a post when the viewer blocked or muted its author, when its author blocks
    the viewer, or when it reposts or quotes someone the viewer blocked or muted."""

    query_reads = {"blocked", "muted", "blocked_by"}
    reads = {"reposted_user_id", "quoted_user_id"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        hidden = (query.blocked or frozenset()) | (query.muted or frozenset())
        blocked_by = query.blocked_by or frozenset()
        kept, removed = [], []
        for c in candidates:
            drop = (
                c.author_id in hidden
                or c.author_id in blocked_by
                or c.reposted_user_id in hidden
                or c.quoted_user_id in hidden
            )
            (removed if drop else kept).append(c)
        return FilterResult(kept, removed)
