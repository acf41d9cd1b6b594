"""Drop posts whose text contains one of the viewer's muted keywords."""

from __future__ import annotations

from collections.abc import Sequence

from components.keywords import KeywordMatcher
from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("muted_keyword")
class MutedKeyword(Filter[ForYouQuery, PostCandidate]):
    """Removes posts matching a muted keyword: whole words, case- and Unicode-normalised,
    hashtags and multi-word phrases (see :mod:`components.keywords`)."""

    query_reads = {"muted_keywords"}
    reads = {"text"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        matcher = KeywordMatcher(query.muted_keywords or ())
        if not matcher:
            return FilterResult(list(candidates))
        kept, removed = [], []
        for c in candidates:
            (removed if matcher.matches(c.text) else kept).append(c)
        return FilterResult(kept, removed)
