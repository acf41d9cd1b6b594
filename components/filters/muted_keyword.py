"""Drop posts whose text contains one of the viewer's muted keywords."""

from __future__ import annotations

from collections.abc import Sequence

from components.filters.safety import remove_uncleared
from components.keywords import KeywordMatcher
from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("muted_keyword")
class MutedKeyword(Filter[ForYouQuery, PostCandidate]):
    """Removes posts matching a muted keyword: whole words, case- and Unicode-normalised,
    hashtags and multi-word phrases (see :mod:`components.keywords`).

    Fails closed: unknown muted keywords (``None``: the user store could not be read) remove
    every post, and so does an unknown text (``None``) when the viewer mutes anything."""

    query_reads = {"muted_keywords"}
    reads = {"text"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        if query.muted_keywords is None:
            reason = "muted_keywords unknown (the user store could not be read)"
            return remove_uncleared(self.name, [], candidates, reason)
        matcher = KeywordMatcher(query.muted_keywords)
        if not matcher:
            return FilterResult(list(candidates))
        kept, removed, unknown = [], [], []
        for c in candidates:
            if c.text is None:
                unknown.append(c)
            else:
                (removed if matcher.matches(c.text) else kept).append(c)
        return remove_uncleared(self.name, kept, unknown, "post text unknown", removed)
