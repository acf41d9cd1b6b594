"""The viewer's engagement history (user action sequence), aggregated as X does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.models import Engagement, ForYouQuery, PostCandidate
from components.resources import USER_STORE, require
from pipeline import QueryHydrator, register


def aggregate(
    engagements: list[Engagement], window_s: float, max_length: int
) -> tuple[Engagement, ...]:
    """Merge engagements with the same post within ``window_s`` into one entry (union of
    actions, longest dwell), newest first, keeping at most ``max_length`` entries.

    ``engagements`` must be newest first.
    """
    merged: list[Engagement] = []
    latest: dict[int, int] = {}  # post id -> index in merged of its newest entry
    for e in engagements:
        index = latest.get(e.post_id)
        if index is not None and merged[index].timestamp - e.timestamp <= window_s:
            kept = merged[index]
            actions = tuple(dict.fromkeys((*kept.actions, *e.actions)))
            merged[index] = Engagement(
                kept.post_id,
                kept.author_id,
                kept.timestamp,
                actions,
                kept.product_surface,
                max(kept.dwell_time_s, e.dwell_time_s),
                kept.is_original,
            )
            continue
        if len(merged) >= max_length:
            break
        latest[e.post_id] = len(merged)
        merged.append(e)
    return tuple(merged)


@register("engagement_history")
class EngagementHistory(QueryHydrator[ForYouQuery, PostCandidate]):
    """The viewer's recent engagements, newest first, for the Phoenix models.

    Follows X's user-action-sequence hydrator: keep only actions on original posts (not on
    replies or reposts), aggregate repeated actions on one post within a window, and cap the
    length (the ranker's history length). Impressions without any action are dropped unless
    ``keep_impressions`` is set.
    """

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        max_length: int = Field(127, ge=1, description="history length kept (model's S)")
        aggregation_window_s: float = Field(
            300.0, ge=0, description="merge actions on the same post this close in time"
        )
        keep_original_only: bool = Field(True, description="drop actions on replies/reposts")
        keep_impressions: bool = Field(False, description="keep impressions with no action")

    writes = {"engagement_history"}
    run_in_thread = True
    needs = {USER_STORE}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.store = require(resources, USER_STORE, self.name)

    def hydrate(self, query: ForYouQuery) -> dict[str, Any]:
        p = self.params
        raw = self.store.engagement_history(
            query.user_id, limit=p.max_length * 8, before=query.request_time
        )
        kept = [
            e
            for e in raw
            if (e.is_original or not p.keep_original_only) and (e.actions or p.keep_impressions)
        ]
        return {"engagement_history": aggregate(kept, p.aggregation_window_s, p.max_length)}
