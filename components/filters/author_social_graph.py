"""Drop posts whose author (or reposted/quoted author) the viewer blocked or muted."""

from __future__ import annotations

from collections.abc import Sequence

from components.filters.safety import missing_inputs, remove_uncleared
from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("author_social_graph")
class AuthorSocialGraph(Filter[ForYouQuery, PostCandidate]):
    """Removes a post when the viewer blocked or muted its author, when its author blocks
    the viewer, or when it reposts or quotes someone the viewer blocked or muted.

    Fails closed: when ``blocked``, ``muted`` or ``blocked_by`` is unknown (``None``: the
    user store could not be read), no post can be cleared and every one is removed; so is a
    post whose core data never arrived (``created_at`` is ``None``), since a missing
    ``reposted_user_id`` then does not mean "not a repost"."""

    query_reads = {"blocked", "muted", "blocked_by"}
    reads = {"created_at", "reposted_user_id", "quoted_user_id"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        unknown = missing_inputs(query, ("blocked", "muted", "blocked_by"))
        if unknown:
            reason = f"{', '.join(unknown)} unknown (the user store could not be read)"
            return remove_uncleared(self.name, [], candidates, reason)
        hidden = query.blocked | query.muted
        blocked_by = query.blocked_by
        kept, removed, unknown = [], [], []
        for c in candidates:
            if c.created_at is None:
                unknown.append(c)
                continue
            drop = (
                c.author_id in hidden
                or c.author_id in blocked_by
                or c.reposted_user_id in hidden
                or c.quoted_user_id in hidden
            )
            (removed if drop else kept).append(c)
        return remove_uncleared(self.name, kept, unknown, "core data unknown", removed)
