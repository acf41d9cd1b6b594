"""The viewer's social graph, muted keywords and safety settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.models import ForYouQuery, PostCandidate
from components.resources import USER_STORE, require
from pipeline import QueryHydrator, register


@register("user_features")
class UserFeatures(QueryHydrator[ForYouQuery, PostCandidate]):
    """Loads who the viewer follows, blocks and mutes, who blocks the viewer, the viewer's
    muted keywords and safety settings: everything the graph, keyword and visibility
    filters check, read in one place so a request hits the store once per table.

    All or nothing: if any read fails the hydrator raises, the request records the
    degradation, and every field it owns stays ``None`` -- *unknown*, which the safety
    filters treat as "cannot clear", never as "blocks / mutes nobody" (an empty set)."""

    writes = {"following", "blocked", "muted", "blocked_by", "muted_keywords", "safety"}
    run_in_thread = True
    needs = {USER_STORE}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.store = require(resources, USER_STORE, self.name)

    def hydrate(self, query: ForYouQuery) -> dict[str, Any]:
        user = query.user_id
        return {
            "following": self.store.following(user),
            "blocked": self.store.blocked(user),
            "muted": self.store.muted(user),
            "blocked_by": self.store.blocked_by(user),
            "muted_keywords": self.store.muted_keywords(user),
            "safety": self.store.safety(user),
        }
