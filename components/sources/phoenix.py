"""Out-of-network candidates: Phoenix two-tower retrieval over the corpus index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.models import OUT_OF_NETWORK, ForYouQuery, PostCandidate
from components.resources import RETRIEVAL, require
from pipeline import Source, register


class NoEngagementHistory(RuntimeError):
    """Retrieval needs the viewer's history; a new viewer gets in-network posts only."""


@register("phoenix")
class PhoenixSource(Source[ForYouQuery, PostCandidate]):
    """Embeds the viewer's engagement history with the user tower and returns the top-``k``
    corpus posts by dot product, excluding posts the viewer saw or engaged with.

    A viewer with no history makes this source fail (as in X), so the request degrades to
    in-network candidates. Disabled for in-network-only requests.
    """

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        k: int = Field(300, ge=1, description="posts retrieved")
        exclude_followed: bool = Field(
            False, description="drop posts by followed authors (a strictly out-of-network feed)"
        )

    query_reads = {"engagement_history", "seen_ids", "following"}
    writes = {"retrieval_score"}
    run_in_thread = True
    needs = {RETRIEVAL}

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.retrieval = require(resources, RETRIEVAL, self.name)
        compile_tower = getattr(self.retrieval, "warm_up", None)
        if compile_tower is not None:
            compile_tower()

    def enable(self, query: ForYouQuery) -> bool:
        return not query.in_network_only

    def get_candidates(self, query: ForYouQuery) -> list[PostCandidate]:
        history = query.engagement_history or ()
        if not history:
            raise NoEngagementHistory(
                f"user {query.user_id} has no engagement history to retrieve from"
            )
        exclude = set(query.seen_ids)
        exclude.update(e.post_id for e in history)
        hits = self.retrieval.retrieve(query.user_id, history, self.params.k, exclude)
        followed = query.following or frozenset() if self.params.exclude_followed else frozenset()
        return [
            PostCandidate(int(post_id), int(author_id), OUT_OF_NETWORK, retrieval_score=score)
            for post_id, author_id, score in hits
            if author_id not in followed
        ]
