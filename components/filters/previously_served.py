"""Drop posts already served to the viewer, so a refresh shows new posts."""

from __future__ import annotations

from collections.abc import Sequence

from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("previously_served")
class PreviouslyServed(Filter[ForYouQuery, PostCandidate]):
    """Removes candidates in ``query.served_ids`` (hydrated by ``served_history`` from the
    record the ``record_served`` side effect keeps)."""

    query_reads = {"served_ids"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        served = query.served_ids or frozenset()
        kept, removed = [], []
        for c in candidates:
            (removed if c.id in served else kept).append(c)
        return FilterResult(kept, removed)
