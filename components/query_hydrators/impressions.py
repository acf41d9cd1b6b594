"""The viewer's stored impressions as a Bloom filter, beside the ones the client sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.bloom import BloomFilter
from components.models import ForYouQuery, PostCandidate
from components.resources import USER_STORE, require
from pipeline import QueryHydrator, register


@register("impressions")
class Impressions(QueryHydrator[ForYouQuery, PostCandidate]):
    """Adds a Bloom filter of every post the viewer had an impression of (from the
    engagement log) to the client's impression Bloom filters. A Bloom filter keeps the
    query small however long the history; ``false_positive_rate`` trades its size against
    how many unseen posts it wrongly drops."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        false_positive_rate: float = Field(0.001, gt=0, lt=1)

    writes = {"impression_bloom_filters"}
    run_in_thread = True
    needs = {USER_STORE}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.store = require(resources, USER_STORE, self.name)

    def hydrate(self, query: ForYouQuery) -> dict[str, Any]:
        seen = self.store.seen_post_ids(query.user_id)
        if not seen:
            return {"impression_bloom_filters": query.impression_bloom_filters}
        bloom = BloomFilter.of(seen, self.params.false_positive_rate)
        return {"impression_bloom_filters": (*query.impression_bloom_filters, bloom)}
