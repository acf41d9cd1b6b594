"""Thunder's post store: recent posts in memory, indexed by author (after X's ``PostStore``).

Layout, as in the published service: full post data in one map, and per author three
timelines of row references, oldest first (by ``created_at``, then arrival) -- original
posts, secondary posts (replies and reposts) and video posts.

Rules (values from X's release, :class:`ThunderLimits`):

* ingestion rejects posts from the future or older than the retention window; :meth:`trim`
  drops what aged out since (and runs by itself every ``trim_interval_s`` of inserts);
* a timeline keeps at most ``max_timeline_entries``; inserting past that evicts the oldest;
* deletes are tombstones, so a delete that arrives before its create still wins; applying a
  create or delete twice changes nothing;
* per request and followed author (the follow list is a set): the newest
  ``max_scan_per_author`` entries of a timeline are looked at, seen (excluded) ids and
  reposts of the viewer's own posts are skipped, at most ``max_originals_per_author``
  originals and ``max_replies_per_author`` secondary posts (or ``max_videos_per_author``
  videos) are kept;
* a reply is kept only if it replies to an original post, or it replies to a reply to the
  conversation root *and* the replied-to user is followed;
* results are sorted newest first (ties: higher post id first) and truncated to
  ``max_results`` (``max_video_results``);
* a request stops scanning when its time budget (counted from when it got in) is spent and
  returns what it has, flagged ``timed_out``;
* at most ``max_concurrent_requests`` run at once: one more raises :class:`ThunderAtCapacity`
  at once instead of queueing;
* requests scan side by side (the read side of a
  :class:`~components.thunder.rwlock.ReadWriteLock`); ingestion and trimming take the write
  side for one batch, so a request never waits for the scans of the requests before it,
  only for a writer's batch (and the scans running when that writer arrived).

Post fields a request checks live in a numpy column store (:mod:`components.thunder.rows`)
and timelines are typed ``array('q')`` of row numbers, indexed by a dense author index.
How a request finds its posts -- a newest-first walk over the rows, or a gather of each
followed author's timelines, whichever is cheaper -- is :mod:`components.thunder.scan`.
"""

from __future__ import annotations

import bisect
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from components.models import Post
from components.thunder.authors import AuthorIndex
from components.thunder.rows import (
    ALIVE,
    CREATED_AT,
    FIELDS,
    FLAGS,
    IN_PRIMARY,
    IN_VIDEO,
    PARENT_ROW,
    REPLY,
    REPLY_TO_POST,
    REPOST,
    Rows,
)
from components.thunder.rwlock import ReadWriteLock
from components.thunder.scan import (
    ORIGINAL,
    SECONDARY_KIND,
    VIDEO,
    Ask,
    Caps,
    Scan,
    sorted_unique,
)

_KIND_FLAG = {ORIGINAL: IN_PRIMARY, SECONDARY_KIND: IN_PRIMARY, VIDEO: IN_VIDEO}


class ThunderAtCapacity(RuntimeError):
    """The store is serving ``max_concurrent_requests`` already; retry later."""


@dataclass(frozen=True, slots=True)
class ThunderLimits:
    """Thunder's limits; the defaults are X's published values (DESIGN.md, "Thunder limits").

    ``request_budget_ms`` and ``max_concurrent_requests`` are this implementation's choices
    (X configures them per deployment).
    """

    retention_s: int = 172_800
    max_timeline_entries: int = 5_000
    max_originals_per_author: int = 50
    max_replies_per_author: int = 30
    max_videos_per_author: int = 100
    max_scan_per_author: int = 500
    max_results: int = 1_200
    max_video_results: int = 600
    request_budget_ms: float = 50.0
    max_concurrent_requests: int = 16
    trim_interval_s: int = 600

    def __post_init__(self) -> None:
        bad = [name for name in self.__dataclass_fields__ if getattr(self, name) <= 0]
        if bad:
            raise ValueError(f"ThunderLimits: {', '.join(bad)} must be positive")


@dataclass(slots=True)
class ThunderResult:
    """Posts for one request, newest first, and how much of the follow list was covered
    (followed authors, counted once, whose timelines the request finished looking at)."""

    posts: list[Post]
    authors_scanned: int
    authors_total: int
    timed_out: bool = False


class ThunderStore:
    """The in-memory post store. ``clock`` returns "now" in unix seconds (injectable so a
    replayed or simulated world keeps its own time)."""

    def __init__(
        self, limits: ThunderLimits | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.limits = limits or ThunderLimits()
        self.clock = clock
        self._lock = ReadWriteLock()  # requests read together; ingestion writes alone
        self._capacity = threading.BoundedSemaphore(self.limits.max_concurrent_requests)
        self._rows = Rows()
        self._row_of: dict[int, int] = {}
        self._waiting: dict[int, list[int]] = {}  # parent post id -> rows of its replies
        self._authors = AuthorIndex()
        self._timelines: tuple[list[array], list[array], list[array]] = ([], [], [])
        self._lengths = np.zeros((1024, 3), np.int32)  # timeline lengths by author, kind
        self._tombstones: dict[int, float] = {}
        self._last_trim = clock()

    # -- ingestion ----------------------------------------------------------------------

    def insert(self, posts: Iterable[Post]) -> int:
        """Add posts (any order); returns how many were new. Old, future, tombstoned and
        already-present posts are skipped."""
        now = self.clock()
        oldest = now - self.limits.retention_s
        with self._lock.writing():
            fresh: dict[int, Post] = {}
            for post in posts:
                pid = post.post_id
                if (
                    oldest <= post.created_at < now
                    and pid not in self._row_of
                    and pid not in self._tombstones
                ):
                    fresh[pid] = post
            batch = sorted(fresh.values(), key=_created_key)
            if batch:
                self._append(batch)
            if now - self._last_trim >= self.limits.trim_interval_s:
                self._trim(now)
        return len(batch)

    def _append(self, batch: list[Post]) -> None:
        rows = self._rows
        start = rows.n
        authors = self._authors.add(np.array([p.author_id for p in batch], np.int64))
        self._grow_authors(self._authors.count)
        reply = np.array([p.in_reply_to_post_id is not None for p in batch])
        repost = np.array([p.reposted_post_id is not None for p in batch])
        video = np.array([p.video_duration_s is not None for p in batch])
        secondary = reply | repost
        records = np.empty((len(batch), FIELDS), np.int64)
        records[:, :PARENT_ROW] = [
            (
                p.post_id,
                p.created_at,
                p.in_reply_to_post_id or 0,
                p.in_reply_to_user_id or 0,
                p.conversation_id or 0,
                p.reposted_user_id or 0,
            )
            for p in batch
        ]
        records[:, PARENT_ROW] = -1
        records[:, FLAGS] = (
            ALIVE
            | IN_PRIMARY
            | np.where(reply, REPLY, 0)
            | np.where(repost, REPOST, 0)
            | np.where(video & ~secondary, IN_VIDEO, 0)
        )
        rows.append(records, 2 * authors + secondary, batch)
        row_of, waiting, rec = self._row_of, self._waiting, rows.rec
        created = rec[:, CREATED_AT]
        kinds = np.where(secondary, SECONDARY_KIND, ORIGINAL).tolist()
        in_video = (video & ~secondary).tolist()
        for row, post, author, kind, has_video in zip(
            range(start, rows.n), batch, authors.tolist(), kinds, in_video, strict=True
        ):
            row_of[post.post_id] = row
            for child in waiting.pop(post.post_id, ()):
                rec[child, PARENT_ROW] = row
            if post.in_reply_to_post_id is not None:
                parent = row_of.get(post.in_reply_to_post_id)
                if parent is None:
                    waiting.setdefault(post.in_reply_to_post_id, []).append(row)
                else:
                    rec[row, PARENT_ROW] = parent
            self._push(kind, author, row, post.created_at, created)
            if has_video:
                self._push(VIDEO, author, row, post.created_at, created)

    def _push(self, kind: int, author: int, row: int, created_at: int, created: np.ndarray) -> None:
        """Add ``row`` to a timeline (``created``: the rows' ``created_at`` column)."""
        timeline = self._timelines[kind][author]
        if not timeline or created[timeline[-1]] <= created_at:
            timeline.append(row)
        else:  # an out-of-order event: keep the timeline sorted oldest first
            bisect.insort(timeline, row, key=created.__getitem__)
        excess = len(timeline) - self.limits.max_timeline_entries
        if excess > 0:
            self._rows.rec[timeline[:excess], FLAGS] &= ~_KIND_FLAG[kind]
            del timeline[:excess]
        self._lengths[author, kind] = len(timeline)

    def _grow_authors(self, count: int) -> None:
        for timelines in self._timelines:
            timelines.extend(array("q") for _ in range(count - len(timelines)))
        if count > self._lengths.shape[0]:
            grown = np.zeros((max(count, 2 * self._lengths.shape[0]), 3), np.int32)
            grown[: self._lengths.shape[0]] = self._lengths
            self._lengths = grown

    def delete(self, post_ids: Iterable[int], deleted_at: float | None = None) -> int:
        """Tombstone posts (present or not yet seen); returns how many stored posts died."""
        when = self.clock() if deleted_at is None else deleted_at
        removed = 0
        with self._lock.writing():
            for pid in post_ids:
                self._tombstones.setdefault(pid, when)
                row = self._row_of.pop(pid, None)
                if row is not None:
                    self._rows.rec[row, FLAGS] &= ~ALIVE
                    self._rows.posts[row] = None
                    removed += 1
        return removed

    def trim(self) -> int:
        """Drop posts and tombstones older than the retention window; returns posts dropped."""
        with self._lock.writing():
            return self._trim(self.clock())

    def _trim(self, now: float) -> int:
        self._last_trim = now
        oldest = now - self.limits.retention_s
        self._tombstones = {p: t for p, t in self._tombstones.items() if t >= oldest}
        rows = self._rows
        n = rows.n
        alive = (rows.rec[:n, FLAGS] & ALIVE) != 0
        keep = alive & (rows.rec[:n, CREATED_AT] >= oldest)
        if keep.all():
            return 0
        dropped = int(alive.sum() - keep.sum())
        new_row = rows.compact(np.flatnonzero(keep))
        self._row_of = {post.post_id: row for row, post in enumerate(rows.posts[: rows.n])}
        self._waiting = {}
        rec = rows.rec[: rows.n]
        orphans = np.flatnonzero(((rec[:, FLAGS] & REPLY) != 0) & (rec[:, PARENT_ROW] < 0))
        for row, parent_id in zip(
            orphans.tolist(), rec[orphans, REPLY_TO_POST].tolist(), strict=True
        ):
            self._waiting.setdefault(parent_id, []).append(row)
        for kind, timelines in enumerate(self._timelines):
            for author, timeline in enumerate(timelines):
                if timeline:
                    remapped = new_row[np.frombuffer(timeline, dtype=np.int64)]
                    timelines[author] = array("q", remapped[remapped >= 0].tobytes())
                    self._lengths[author, kind] = len(timelines[author])
        return dropped

    # -- requests -----------------------------------------------------------------------

    def get_posts(
        self,
        viewer_id: int,
        following: Iterable[int],
        exclude_ids: Iterable[int] = (),
        *,
        videos: bool = False,
        max_results: int | None = None,
        method: str = "auto",
    ) -> ThunderResult:
        """Recent posts by ``following`` for ``viewer_id``, newest first (see module rules).

        ``method`` says how to find them -- "walk", "gather" or "auto" (the cheaper; see
        :mod:`components.thunder.scan`). Every method gives the same posts.

        Raises:
            ThunderAtCapacity: ``max_concurrent_requests`` requests are already running.
        """
        if not self._capacity.acquire(blocking=False):
            raise ThunderAtCapacity(
                f"Thunder is at capacity ({self.limits.max_concurrent_requests} requests "
                "in flight); retry later"
            )
        try:
            followed = sorted_unique(np.fromiter(following, np.int64))
            excluded = sorted_unique(np.fromiter(exclude_ids, np.int64))
            limits = self.limits
            limit = max_results or (limits.max_video_results if videos else limits.max_results)
            with self._lock.reading():
                # The budget starts once the request is in: waiting for a writer's batch
                # must not cut its scan short.
                deadline = time.perf_counter() + limits.request_budget_ms / 1000
                return self._get_posts(
                    viewer_id, followed, excluded, videos, limit, deadline, method
                )
        finally:
            self._capacity.release()

    def _get_posts(
        self,
        viewer_id: int,
        followed: np.ndarray,
        excluded: np.ndarray,
        videos: bool,
        limit: int,
        deadline: float,
        method: str,
    ) -> ThunderResult:
        ix = self._authors.find(followed)
        ask = Ask(viewer_id, followed, ix[ix >= 0], excluded, videos, limit, deadline)
        scan = Scan(self._rows, self._timelines, self._lengths, self._caps(), ask)
        found = scan.run(scan.plan(method))
        unknown = followed.size - ask.followed_ix.size  # nothing to scan for them
        return ThunderResult(
            self._rows.posts.take(found.rows).tolist(),
            found.authors_scanned + unknown,
            followed.size,
            found.timed_out,
        )

    def _caps(self) -> Caps:
        limits = self.limits
        return Caps(
            scan=limits.max_scan_per_author,
            originals=limits.max_originals_per_author,
            secondary=limits.max_replies_per_author,
            videos=limits.max_videos_per_author,
        )

    # -- inspection ---------------------------------------------------------------------

    def get(self, post_id: int) -> Post | None:
        row = self._row_of.get(post_id)
        return None if row is None else self._rows.posts[row]

    def is_deleted(self, post_id: int) -> bool:
        return post_id in self._tombstones

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, post_id: int) -> bool:
        return post_id in self._row_of


def _created_key(post: Post) -> tuple[int, int]:
    return (post.created_at, post.post_id)
