"""Video duration, which the weighted scorer needs for its video-quality-view rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.models import ForYouQuery, PostCandidate
from components.resources import POSTS, require
from pipeline import Hydrator, register


@register("video_duration_hydrator")
class VideoDurationHydrator(Hydrator[ForYouQuery, PostCandidate]):
    """Fills ``video_duration_s`` (``None`` for posts without video) from the post catalog,
    the stand-in for X's media service."""

    writes = {"video_duration_s"}
    needs = {POSTS}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.catalog = require(resources, POSTS, self.name)

    def hydrate(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[float | None]]:
        posts = self.catalog.get_many([c.id for c in candidates])
        return {"video_duration_s": [p.video_duration_s if p else None for p in posts]}
