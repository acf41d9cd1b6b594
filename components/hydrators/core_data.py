"""Core post data (text, timestamps, reply/repost/quote fields) from the post catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.models import CORE_FIELDS, ForYouQuery, PostCandidate
from components.resources import POSTS, require
from pipeline import Hydrator, register

_FIELDS = tuple(sorted(CORE_FIELDS - {"video_duration_s", "safety_labels", "ancestors"}))
CORE_DATA_FIELDS = frozenset({*_FIELDS, "ancestors"})
_UNKNOWN = SimpleNamespace(**{name: None for name in _FIELDS} | {"has_image": False})
"""Stands in for a post the catalog does not know."""


@register("core_data_hydrator")
class CoreDataHydrator(Hydrator[ForYouQuery, PostCandidate]):
    """Fills every candidate's core fields from the post catalog, and ``ancestors`` (the
    reply chain, nearest first) for conversation dedup. A post the catalog does not know
    (deleted since retrieval, never stored) gets ``text`` and ``created_at`` of ``None``,
    which the ``core_data`` filter then removes."""

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        max_ancestors: int = Field(8, ge=0, description="reply-chain depth followed")

    writes = CORE_DATA_FIELDS
    needs = {POSTS}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.catalog = require(resources, POSTS, self.name)

    def hydrate(
        self, query: ForYouQuery, candidates: Sequence[PostCandidate]
    ) -> dict[str, list[Any]]:
        posts = self.catalog.get_many([c.id for c in candidates])
        known = [_UNKNOWN if p is None else p for p in posts]
        # map(attrgetter) runs each column's loop in C
        columns: dict[str, list[Any]] = {
            name: list(map(attrgetter(name), known)) for name in _FIELDS
        }
        depth = self.params.max_ancestors
        columns["ancestors"] = [
            self.catalog.ancestors(p, depth) if p is not None and p.is_reply else () for p in posts
        ]
        return columns
