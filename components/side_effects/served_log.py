"""One structured log line per served feed."""

from __future__ import annotations

import structlog

from components.models import ForYouQuery, PostCandidate
from pipeline import PipelineResult, SideEffect, register

log = structlog.get_logger("feedmixer.for_you")


@register("served_feed_log")
class ServedFeedLog(SideEffect[ForYouQuery, PostCandidate]):
    """Logs ``served_feed`` with the viewer, the served ids in order, how many were in
    network, counts per stage and the degraded components -- the record an analyst joins
    with engagement logs."""

    def run(self, query: ForYouQuery, result: PipelineResult) -> None:
        log.info(
            "served_feed",
            request_id=result.request_id,
            user_id=query.user_id,
            served=[c.id for c in result.selected],
            in_network=sum(1 for c in result.selected if c.in_network),
            retrieved=len(result.retrieved),
            removed=len(result.removed),
            degraded=[d.component for d in result.degradations],
            total_ms=round(result.timings.total_ms, 3),
        )
