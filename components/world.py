"""From a generated demo world (``phoenix_models.data``) to the For-You stores.

The demo world is plain numpy columns; the feed needs :class:`~components.models.Post`
objects, a user store with the social graph and engagement log, an author directory and
post create events for Thunder. Every function here is deterministic in the world.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from components.authors import AuthorInfo
from components.models import ACTIONS, Post
from components.stores.user_store import UserStore
from components.thunder.event_log import PostEvent

_SQLITE_CHUNK = 50_000


def _optional(values: np.ndarray) -> list[int | None]:
    return [v or None for v in values.tolist()]


def posts_from_world(world) -> list[Post]:
    """Every post of the world, oldest first."""
    p = world.posts
    durations = [d if d > 0 else None for d in p.video_duration_s.tolist()]
    labels = [(label,) if label else () for label in p.safety_label.tolist()]
    return [
        Post(*row)
        for row in zip(
            p.post_id.tolist(),
            p.author_id.tolist(),
            p.created_at.tolist(),
            p.text.tolist(),
            _optional(p.in_reply_to_post_id),
            _optional(p.in_reply_to_user_id),
            _optional(p.conversation_id),
            _optional(p.reposted_post_id),
            _optional(p.reposted_user_id),
            _optional(p.quoted_post_id),
            _optional(p.quoted_user_id),
            durations,
            p.has_image.tolist(),
            labels,
            strict=True,
        )
    ]


def create_events(posts: list[Post]) -> list[PostEvent]:
    return [PostEvent.create(post) for post in posts]


def author_directory(world) -> Mapping[int, AuthorInfo]:
    """A handle per author (their favourite topic and id) and their follower count."""
    followers = np.bincount(world.follows[:, 1], minlength=world.config.n_authors + 1)
    topics = world.topics
    return {
        int(a): AuthorInfo(int(a), f"@{topics[int(t)]}_{int(a)}", int(followers[a]))
        for a, t in zip(world.authors.author_id, world.authors.primary_topic, strict=True)
    }


def load_user_store(store: UserStore, world) -> None:
    """Write the world's follows, blocks, mutes, muted keywords and engagement log."""
    store.add_follows(world.follows.tolist())
    store.add_blocks(world.blocks.tolist())
    store.add_mutes(world.mutes.tolist())
    for user_id, keywords in zip(
        world.users.user_id.tolist(), world.users.muted_keywords, strict=True
    ):
        if keywords:
            store.add_muted_keywords(user_id, keywords)
    e, p = world.engagements, world.posts
    rows = world.post_index(e.post_id)
    original = (p.in_reply_to_post_id[rows] == 0) & (p.reposted_post_id[rows] == 0)
    masks = e.actions.astype(np.int64) @ (np.int64(1) << np.arange(len(ACTIONS), dtype=np.int64))
    columns = (
        e.user_id.tolist(),
        e.post_id.tolist(),
        p.author_id[rows].tolist(),
        e.timestamp.tolist(),
        masks.tolist(),
        e.product_surface.astype(np.int64).tolist(),
        e.dwell_time_s.astype(np.float64).tolist(),
        original.astype(np.int64).tolist(),
    )
    table = list(zip(*columns, strict=True))
    for start in range(0, len(table), _SQLITE_CHUNK):
        store.record_engagement_rows(table[start : start + _SQLITE_CHUNK])


def default_viewer(world) -> int:
    """A viewer who makes a good demo: follows many accounts and has a long history."""
    users = world.users.user_id
    follows = np.bincount(world.follows[:, 0], minlength=users.max() + 1)[users]
    engaged = world.engagements.actions.any(axis=1)
    history = np.bincount(world.engagements.user_id[engaged], minlength=users.max() + 1)[users]
    return int(users[np.argmax(np.minimum(follows, 40) * np.minimum(history, 100))])
