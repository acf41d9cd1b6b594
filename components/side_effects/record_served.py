"""Record served posts in the user store, so the next request does not repeat them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.models import ForYouQuery, PostCandidate
from components.resources import USER_STORE, require
from pipeline import PipelineResult, SideEffect, register


@register("record_served")
class RecordServed(SideEffect[ForYouQuery, PostCandidate]):
    """Writes the ids of the served posts with the request time and id; the
    ``served_history`` query hydrator reads them back on the next request."""

    run_in_thread = True
    needs = {USER_STORE}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.store = require(resources, USER_STORE, self.name)

    def run(self, query: ForYouQuery, result: PipelineResult) -> None:
        self.store.record_served(
            query.user_id,
            [c.id for c in result.selected],
            served_at=query.request_time,
            request_id=result.request_id,
        )
