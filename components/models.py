"""The For-You domain: a post, a post candidate and the For-You query.

A :class:`Post` is immutable data as the post store holds it. A :class:`PostCandidate` is the
mutable row that moves through the pipeline: sources create it with an id, an author and a
served type, hydrators and scorers fill the rest, each only the fields it declares. Fields a
hydrator owns default to ``None`` so that recipe validation can tell "nothing upstream writes
this" from "written, and empty".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from components.bloom import BloomFilter
from phoenix_models.config import PUBLISHED_ACTIONS

ACTIONS: tuple[str, ...] = PUBLISHED_ACTIONS
"""The Phoenix ranker's 19 outputs, in the published order (``phoenix_scores[k]``)."""

ACTION_INDEX: dict[str, int] = {name: k for k, name in enumerate(ACTIONS)}

IN_NETWORK = "for_you_in_network"
OUT_OF_NETWORK = "for_you_phoenix_retrieval"


@dataclass(frozen=True, slots=True)
class Post:
    """One post as the stores keep it. Reference fields are ``None`` when absent."""

    post_id: int
    author_id: int
    created_at: int  # unix seconds
    text: str = ""
    in_reply_to_post_id: int | None = None
    in_reply_to_user_id: int | None = None
    conversation_id: int | None = None
    reposted_post_id: int | None = None
    reposted_user_id: int | None = None
    quoted_post_id: int | None = None
    quoted_user_id: int | None = None
    video_duration_s: float | None = None
    has_image: bool = False
    safety_labels: tuple[str, ...] = ()

    @property
    def is_reply(self) -> bool:
        return self.in_reply_to_post_id is not None

    @property
    def is_repost(self) -> bool:
        return self.reposted_post_id is not None

    @property
    def has_video(self) -> bool:
        return self.video_duration_s is not None


@dataclass(slots=True)
class PostCandidate:
    """A post on its way through the For-You pipeline.

    ``impressions`` / ``engaged`` are the post's engagement so far (impressions by anyone,
    and how many were engaged); ``phoenix_scores`` holds the ranker's probabilities in
    :data:`ACTIONS` order (a tuple, because scorers read it as one row of a matrix);
    ``weighted_sum`` is their weighted sum and ``weighted_score`` that sum after the
    weighted scorer's negative-score policy and the ``engagement_factor`` of the prior;
    ``diversity_factor`` and ``oon_factor`` are the demotions applied after it; ``score``
    is the final score the selector sorts by.
    """

    id: int
    author_id: int
    served_type: str = IN_NETWORK
    in_network: bool | None = None
    retrieval_score: float | None = None
    created_at: int | None = None
    text: str | None = None
    in_reply_to_post_id: int | None = None
    in_reply_to_user_id: int | None = None
    conversation_id: int | None = None
    ancestors: tuple[int, ...] = ()
    reposted_post_id: int | None = None
    reposted_user_id: int | None = None
    quoted_post_id: int | None = None
    quoted_user_id: int | None = None
    has_image: bool = False
    video_duration_s: float | None = None
    safety_labels: tuple[str, ...] | None = None
    author_handle: str | None = None
    author_followers: int | None = None
    impressions: int | None = None
    engaged: int | None = None
    phoenix_scores: tuple[float, ...] | None = None
    weighted_sum: float | None = None
    weighted_score: float | None = None
    diversity_factor: float | None = None
    oon_factor: float | None = None
    engagement_factor: float | None = None
    score: float | None = None

    @classmethod
    def from_post(cls, post: Post, served_type: str = IN_NETWORK) -> PostCandidate:
        """A candidate carrying everything the post store knows about ``post`` (the same
        fields as :func:`core_fields`, passed by position: a source builds a thousand of
        these per request, and keyword arguments through a dict cost twice as much)."""
        parent = post.in_reply_to_post_id
        return cls(
            post.post_id,
            post.author_id,
            served_type,
            None,  # in_network
            None,  # retrieval_score
            post.created_at,
            post.text,
            parent,
            post.in_reply_to_user_id,
            post.conversation_id,
            () if parent is None else (parent,),  # ancestors
            post.reposted_post_id,
            post.reposted_user_id,
            post.quoted_post_id,
            post.quoted_user_id,
            post.has_image,
            post.video_duration_s,
            post.safety_labels,
        )

    def action_scores(self) -> dict[str, float]:
        """``phoenix_scores`` keyed by action name (empty before the Phoenix scorer ran)."""
        return dict(zip(ACTIONS, self.phoenix_scores or (), strict=False))


CORE_FIELDS: frozenset[str] = frozenset(
    {
        "created_at",
        "text",
        "in_reply_to_post_id",
        "in_reply_to_user_id",
        "conversation_id",
        "ancestors",
        "reposted_post_id",
        "reposted_user_id",
        "quoted_post_id",
        "quoted_user_id",
        "has_image",
        "video_duration_s",
        "safety_labels",
    }
)
"""Candidate fields copied from a :class:`Post` ("core data" in X's terms)."""


def core_fields(post: Post, ancestors: tuple[int, ...] = ()) -> dict[str, Any]:
    """The :data:`CORE_FIELDS` of ``post``, as a dict ready to apply onto a candidate."""
    if not ancestors and post.in_reply_to_post_id is not None:
        ancestors = (post.in_reply_to_post_id,)
    return {
        "created_at": post.created_at,
        "text": post.text,
        "in_reply_to_post_id": post.in_reply_to_post_id,
        "in_reply_to_user_id": post.in_reply_to_user_id,
        "conversation_id": post.conversation_id,
        "ancestors": ancestors,
        "reposted_post_id": post.reposted_post_id,
        "reposted_user_id": post.reposted_user_id,
        "quoted_post_id": post.quoted_post_id,
        "quoted_user_id": post.quoted_user_id,
        "has_image": post.has_image,
        "video_duration_s": post.video_duration_s,
        "safety_labels": post.safety_labels,
    }


@dataclass(frozen=True, slots=True)
class SafetySettings:
    """Which safety labels the viewer agreed to see; every other label is hidden."""

    allowed_labels: frozenset[str] = frozenset()

    def hides(self, labels: tuple[str, ...]) -> bool:
        return any(label not in self.allowed_labels for label in labels)


@dataclass(frozen=True, slots=True)
class Engagement:
    """One entry of the viewer's engagement history (the user action sequence)."""

    post_id: int
    author_id: int
    timestamp: int
    actions: tuple[str, ...]  # action names, empty for an impression without action
    product_surface: int = 0
    dwell_time_s: float = 0.0
    is_original: bool = True


@dataclass(slots=True)
class ForYouQuery:
    """One For-You request.

    The caller sets the first block (``user_id``, ``request_time``, what the client already
    saw, per-request options); query hydrators fill the rest. ``params`` carries per-request
    overrides a component may read (e.g. ``{"max_age_s": 3600}``).
    """

    user_id: int
    request_time: float = field(default_factory=time.time)
    seen_ids: frozenset[int] = frozenset()
    impression_bloom_filters: tuple[BloomFilter, ...] = ()
    in_network_only: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    # Written by query hydrators.
    following: frozenset[int] | None = None
    blocked: frozenset[int] | None = None
    muted: frozenset[int] | None = None
    blocked_by: frozenset[int] | None = None
    muted_keywords: tuple[str, ...] | None = None
    safety: SafetySettings | None = None
    engagement_history: tuple[Engagement, ...] | None = None
    served_ids: frozenset[int] | None = None
