"""Drop posts the viewer has already seen (client ids and impression Bloom filters)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from components.models import ForYouQuery, PostCandidate
from pipeline import Filter, FilterResult, register


@register("previously_seen")
class PreviouslySeen(Filter[ForYouQuery, PostCandidate]):
    """Removes a candidate whose post -- or the post it reposts -- is in the client's
    ``seen_ids`` or in any impression Bloom filter. A Bloom filter may wrongly remove an
    unseen post (at its false-positive rate, set where it is built), never keep a seen one."""

    query_reads = {"seen_ids", "impression_bloom_filters"}
    reads = {"reposted_post_id"}

    def filter(self, query: ForYouQuery, candidates: Sequence[PostCandidate]) -> FilterResult:
        ids = np.array([c.id for c in candidates], dtype=np.int64)
        sources = np.array([c.reposted_post_id or 0 for c in candidates], dtype=np.int64)
        seen = np.zeros(len(candidates), dtype=bool)
        if query.seen_ids:
            known = np.fromiter(query.seen_ids, dtype=np.int64)
            seen |= np.isin(ids, known) | np.isin(sources, known)
        for bloom in query.impression_bloom_filters:
            seen |= bloom.contains_many(ids) | ((sources != 0) & bloom.contains_many(sources))
        kept = [c for c, s in zip(candidates, seen.tolist(), strict=True) if not s]
        removed = [c for c, s in zip(candidates, seen.tolist(), strict=True) if s]
        return FilterResult(kept, removed)
