"""Each candidate's engagement so far: how many impressions it had and how many engaged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.models import ForYouQuery, PostCandidate
from components.resources import USER_STORE, require
from pipeline import Hydrator, register


@register("engagement_so_far_hydrator")
class EngagementSoFarHydrator(Hydrator[ForYouQuery, PostCandidate]):
    """Fills ``impressions`` and ``engaged`` from the user store's per-post counters (every
    recorded impression, by any viewer). A post's author, topic and media say nothing of
    the post's own quality; how viewers took it so far does, and a ranker with
    ``engagement_inputs`` reads it. If this hydrator fails the fields stay ``None``, which
    the ranker reads as "unknown": the feed degrades, it is not wrong.
    """

    writes = {"impressions", "engaged"}
    run_in_thread = True
    needs = {USER_STORE}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.store = require(resources, USER_STORE, self.name)

    def hydrate(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[Any]]:
        counts = self.store.post_engagement(c.id for c in candidates)
        return {
            "impressions": [counts[c.id][0] for c in candidates],
            "engaged": [counts[c.id][1] for c in candidates],
        }
