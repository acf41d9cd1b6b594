"""Out-of-network candidates: Phoenix two-tower retrieval over the corpus index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from components.models import OUT_OF_NETWORK, ForYouQuery, PostCandidate
from components.resources import RETRIEVAL, USER_STORE, require
from phoenix_models.engagement_prior import with_engagement_prior
from pipeline import Source, register


class NoEngagementHistory(RuntimeError):
    """Retrieval needs the viewer's history; a new viewer gets in-network posts only."""


@register("phoenix")
class PhoenixSource(Source[ForYouQuery, PostCandidate]):
    """Embeds the viewer's engagement history with the user tower and returns the top-``k``
    corpus posts by dot product, excluding posts the viewer saw or engaged with.

    With ``engagement_weight`` > 0 it pulls ``k x overfetch`` posts from the index and
    keeps the ``k`` best by the dot product plus ``engagement_weight x log`` of each post's
    engagement factor (``phoenix_models.engagement_prior``, from the user store's per-post
    counters): the towers know the viewer's taste and the author, never how good *this*
    post is, and its engaged share so far is the one signal that tells (docs/training.md
    has the measurements). ``retrieval_score`` is then the score it kept them by. Weight 0
    is X's retrieval, and needs no store.

    A viewer with no history makes this source fail (as in X), so the request degrades to
    in-network candidates. Disabled for in-network-only requests.
    """

    class Params(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        k: int = Field(300, ge=1, description="posts retrieved")
        exclude_followed: bool = Field(
            False, description="drop posts by followed authors (a strictly out-of-network feed)"
        )
        engagement_weight: float = Field(
            0.0,
            ge=0,
            description="weight of log(engagement factor) added to the dot product; 0: X's",
        )
        overfetch: int = Field(
            3, ge=1, le=20, description="posts read from the index per post kept (prior on)"
        )
        prior_share: float = Field(
            0.15, gt=0, le=1, description="engaged share of an average post (the prior mean)"
        )
        strength: float = Field(20.0, gt=0, description="pseudo-impressions of the prior")

    query_reads = {"engagement_history", "seen_ids", "following"}
    writes = {"retrieval_score"}
    run_in_thread = True
    needs = {RETRIEVAL}
    optional_needs = {USER_STORE}  # the engagement prior's counters

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.params.engagement_weight > 0:
            self.needs = self.needs | self.optional_needs

    def warm_up(self, resources: Mapping[str, Any]) -> None:
        self.retrieval = require(resources, RETRIEVAL, self.name)
        if USER_STORE in self.needs:
            self.store = require(resources, USER_STORE, self.name)
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
        p = self.params
        prior = p.engagement_weight > 0
        hits = self.retrieval.retrieve(
            query.user_id, history, p.k * p.overfetch if prior else p.k, exclude
        )
        if prior:
            hits = self._with_engagement_prior(hits)
        followed = query.following or frozenset() if p.exclude_followed else frozenset()
        return [
            PostCandidate(int(post_id), int(author_id), OUT_OF_NETWORK, retrieval_score=score)
            for post_id, author_id, score in hits
            if author_id not in followed
        ]

    def _with_engagement_prior(
        self, hits: list[tuple[int, int, float]]
    ) -> list[tuple[int, int, float]]:
        """The ``k`` best of ``hits`` by score plus the weighted log engagement factor."""
        if not hits:
            return hits
        p = self.params
        counts = self.store.post_engagement(post_id for post_id, _, _ in hits)
        shown, engaged = np.array([counts[post_id] for post_id, _, _ in hits]).T
        scores = with_engagement_prior(
            [score for _, _, score in hits],
            shown,
            engaged,
            p.engagement_weight,
            p.prior_share,
            p.strength,
        )
        keep = np.argsort(-scores, kind="stable")[: p.k]
        return [(hits[i][0], hits[i][1], float(scores[i])) for i in keep]
