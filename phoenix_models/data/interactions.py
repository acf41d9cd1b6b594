"""One interaction-log format that every data set is converted to before training.

Training code never looks at the demo world or MovieLens directly: it reads an
:class:`InteractionLog` (one row per (user, post) interaction, grouped by user, in time
order) and builds model inputs from it (:mod:`phoenix_models.data.examples`). A new data
set only needs a converter to this format.

Examples:
    >>> log = InteractionLog.from_arrays(
    ...     user_id=np.array([2, 1, 1]), post_id=np.array([7, 8, 9]),
    ...     author_id=np.array([3, 3, 4]), timestamp=np.array([5, 9, 1]),
    ...     actions=np.eye(3, 19, dtype=bool))
    >>> log.user_id.tolist(), log.post_id.tolist()
    ([1, 1, 2], [9, 8, 7])
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from phoenix_models.config import POSITIVE_ACTIONS, PUBLISHED_ACTIONS
from phoenix_models.data.demo_world import ACTION_INDEX, DemoWorld
from phoenix_models.data.movielens import MovieLens, Ratings, rating_actions

NO_AGE = -1
"""``post_age_s`` of a row whose post age is unknown (the model's "missing" age bucket)."""


@dataclasses.dataclass(frozen=True, eq=False)
class InteractionLog:
    """Interactions sorted by (user_id, timestamp); use :meth:`from_arrays` to build one.

    A row with no action is a negative impression: shown, not engaged. Rows with at least
    one action make up a user's history.
    """

    user_id: np.ndarray  # [N] int64
    post_id: np.ndarray  # [N] int64
    author_id: np.ndarray  # [N] int64
    timestamp: np.ndarray  # [N] int64
    actions: np.ndarray  # [N, A] bool
    dwell_s: np.ndarray  # [N] float32, continuous dwell target (seconds or a proxy)
    product_surface: np.ndarray  # [N] int32
    post_age_s: np.ndarray  # [N] int64, seconds since the post was created; NO_AGE unknown

    @classmethod
    def from_arrays(
        cls,
        user_id: np.ndarray,
        post_id: np.ndarray,
        author_id: np.ndarray,
        timestamp: np.ndarray,
        actions: np.ndarray,
        dwell_s: np.ndarray | None = None,
        product_surface: np.ndarray | None = None,
        post_age_s: np.ndarray | None = None,
    ) -> InteractionLog:
        """Validates shapes and ids, fills optional columns, and sorts by (user, time)."""
        n = np.shape(user_id)[0] if np.ndim(user_id) == 1 else -1
        columns = {
            "user_id": np.asarray(user_id, np.int64),
            "post_id": np.asarray(post_id, np.int64),
            "author_id": np.asarray(author_id, np.int64),
            "timestamp": np.asarray(timestamp, np.int64),
            "dwell_s": np.zeros(n, np.float32) if dwell_s is None else dwell_s,
            "product_surface": np.zeros(n, np.int32)
            if product_surface is None
            else product_surface,
            "post_age_s": np.full(n, NO_AGE, np.int64) if post_age_s is None else post_age_s,
        }
        for name, column in columns.items():
            if np.shape(column) != (n,):
                raise ValueError(
                    f"InteractionLog.{name} must have shape ({n},), got {np.shape(column)}"
                )
        actions = np.asarray(actions, bool)
        if actions.shape != (n, len(PUBLISHED_ACTIONS)):
            raise ValueError(
                f"InteractionLog.actions must have shape ({n}, {len(PUBLISHED_ACTIONS)}), "
                f"got {actions.shape}"
            )
        for name in ("user_id", "post_id", "author_id"):
            if n and columns[name].min() < 1:
                raise ValueError(f"InteractionLog.{name} must be >= 1 (0 is padding)")
        order = np.lexsort((columns["timestamp"], columns["user_id"]))
        return cls(
            user_id=columns["user_id"][order],
            post_id=columns["post_id"][order],
            author_id=columns["author_id"][order],
            timestamp=columns["timestamp"][order],
            actions=actions[order],
            dwell_s=np.asarray(columns["dwell_s"], np.float32)[order],
            product_surface=np.asarray(columns["product_surface"], np.int32)[order],
            post_age_s=np.asarray(columns["post_age_s"], np.int64)[order],
        )

    def __len__(self) -> int:
        return int(self.user_id.size)

    @property
    def engaged(self) -> np.ndarray:
        """[N] bool: the row has at least one action (it can appear in a history)."""
        return self.actions.any(axis=1)

    def positive(self, actions: tuple[str, ...]) -> np.ndarray:
        """[N] bool: the row has at least one of ``actions``."""
        return self.actions[:, [ACTION_INDEX[a] for a in actions]].any(axis=1)

    @functools.cached_property
    def engagement_so_far(self) -> tuple[np.ndarray, np.ndarray]:
        """``(impressions, engaged)`` ``[N]`` int64: each row's post's impressions by anyone
        strictly before the row (by timestamp; the row itself excluded), and how many of
        them had a :data:`POSITIVE_ACTIONS` action (rows at the same second: by user id).
        What a server counting impressions as they arrive knew when the row was shown, so
        training never sees the future."""
        order = np.lexsort((self.user_id, self.timestamp, self.post_id))
        post = self.post_id[order]
        first = np.concatenate([[True], post[1:] != post[:-1]])[: post.size]
        start = np.flatnonzero(first)
        group = np.cumsum(first) - 1
        rank = np.arange(post.size) - start[group]
        engaged = self.positive(POSITIVE_ACTIONS)[order].astype(np.int64)
        before = np.cumsum(engaged) - engaged  # engaged rows before, log-wide
        impressions = np.empty(post.size, np.int64)
        engaged_before = np.empty(post.size, np.int64)
        impressions[order] = rank
        engaged_before[order] = before - before[start[group]]
        return impressions, engaged_before

    def post_counts_before(
        self, post_index: np.ndarray, n_posts: int, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(impressions, engaged)`` ``[T, n_posts]`` int32: every post's impressions by
        anyone strictly before each of ``times``, and how many had a
        :data:`POSITIVE_ACTIONS` action. :attr:`engagement_so_far` for a whole catalogue
        at once, as a retriever ranking all of it would know them then.

        Args:
            post_index: ``[N]`` each row's post as a column in ``[0, n_posts)``.
            n_posts: catalogue size.
            times: ``[T]`` timestamps, in any order.
        """
        post_index = np.asarray(post_index)
        if post_index.shape != self.post_id.shape:
            raise ValueError(f"post_index needs one entry per row ({self.post_id.size})")
        order = np.argsort(self.timestamp, kind="stable")
        stamps, columns = self.timestamp[order], post_index[order]
        engaged = self.positive(POSITIVE_ACTIONS)[order]
        impressions = np.zeros((len(times), n_posts), np.int32)
        engaged_before = np.zeros((len(times), n_posts), np.int32)
        shown, liked = np.zeros(n_posts, np.int64), np.zeros(n_posts, np.int64)
        done = 0
        for t in np.argsort(times, kind="stable"):
            end = int(np.searchsorted(stamps, times[t], side="left"))
            new = slice(done, end)
            shown += np.bincount(columns[new], minlength=n_posts)
            liked += np.bincount(columns[new], weights=engaged[new], minlength=n_posts).astype(
                np.int64
            )
            done = end
            impressions[t], engaged_before[t] = shown, liked
        return impressions, engaged_before


def demo_world_log(world: DemoWorld) -> InteractionLog:
    """The demo world's impression log, with post ages at impression time."""
    e = world.engagements
    created = world.posts.created_at[world.post_index(e.post_id)]
    return InteractionLog.from_arrays(
        user_id=e.user_id,
        post_id=e.post_id,
        author_id=world.posts.author_id[world.post_index(e.post_id)],
        timestamp=e.timestamp,
        actions=e.actions,
        dwell_s=e.dwell_time_s,
        product_surface=e.product_surface.astype(np.int32),
        post_age_s=e.timestamp - created,
    )


def movielens_log(data: MovieLens, ratings: Ratings) -> InteractionLog:
    """Ratings as interactions: actions from :func:`rating_actions`, dwell = 12 s x rating.

    The dwell proxy makes the continuous target (dwell / 60 s) equal to rating / 5.

    Ratings are already sorted by (user, timestamp, movieId) and the sort here is stable,
    so the protocol's order is kept.
    """
    return InteractionLog.from_arrays(
        user_id=ratings.user_id,
        post_id=ratings.movie_id,
        author_id=data.movie_author[data.movie_index(ratings.movie_id)],
        timestamp=ratings.timestamp,
        actions=rating_actions(ratings.rating),
        dwell_s=ratings.rating * 12.0,
    )
