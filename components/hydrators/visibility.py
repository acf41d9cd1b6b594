"""Safety labels of each candidate, for the visibility filter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.models import ForYouQuery, PostCandidate
from components.resources import POSTS, require
from pipeline import Hydrator, register


@register("visibility_hydrator")
class VisibilityHydrator(Hydrator[ForYouQuery, PostCandidate]):
    """Fills ``safety_labels`` from the post catalog (X's visibility-filtering service).
    Runs after selection, as in X, so only the served posts are looked up. A post the
    catalog no longer holds keeps ``None``, which the visibility filter treats as unsafe."""

    writes = {"safety_labels"}
    needs = {POSTS}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.catalog = require(resources, POSTS, self.name)

    def hydrate(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[tuple[str, ...] | None]]:
        posts = self.catalog.get_many([c.id for c in candidates])
        return {"safety_labels": [p.safety_labels if p else None for p in posts]}
